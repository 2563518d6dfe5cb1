"""Command line of ``ml.atlas``: build the atlas of one bundle net over a phantom-layout training set.

::

    python -m ml.atlas --model BUNDLE_DIR --data PHANTOM_DIR --out DIR [--arch resnet50] [--cache-dir DIR]
        [--device cpu] [--batch-size 16] [--top-fraction 0.05] [--top-m 256] [--quiet]

Streams every slice of the dataset through the net (``ml.explain.build_bundle_atlas``) with a progress bar,
saves the atlas to ``DIR`` and prints its entries per label. A missing or broken bundle or dataset ends it
with one ``error:`` line and status 2 (``ml.cli.common``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ml import atlas as atlas_module
from ml.atlas import TOP_FRACTION, TOP_M
from ml.bundle import BundleError, load_bundle
from ml.cli.common import BUNDLE_MISSING, device_or_exit, fail, load_or_exit
from ml.data import DatasetError, load_phantom_dataset
from ml.explain import build_bundle_atlas

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ml.atlas --model BUNDLE_DIR --data PHANTOM_DIR --out DIR``."""
    description = atlas_module.__doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m ml.atlas", description=description)
    parser.add_argument("--model", required=True, type=Path, help="model bundle folder (ml.bundle)")
    parser.add_argument("--data", required=True, type=Path, help="training data, phantom layout (ml.data)")
    parser.add_argument("--out", required=True, type=Path, help="atlas folder to write")
    parser.add_argument(
        "--arch", default=None, help="net of the bundle (default resnet50 if there, else first)"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="HU .npy cache (ml.data)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    parser.add_argument("--top-fraction", type=float, default=TOP_FRACTION, help="kept per label (0.05)")
    parser.add_argument("--top-m", type=int, default=TOP_M, help=f"images kept per filter ({TOP_M})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    device = device_or_exit(args.device)
    bundle = load_or_exit(load_bundle, args.model, errors=(BundleError,), missing=BUNDLE_MISSING)
    cases = load_or_exit(
        lambda folder: load_phantom_dataset(folder, cache_dir=args.cache_dir),
        args.data,
        errors=(DatasetError,),
    )
    total = sum(c.n_slices for c in cases)
    with tqdm(total=total, unit="slice", desc="atlas", disable=args.quiet) as bar:
        try:
            atlas = build_bundle_atlas(
                bundle,
                cases,
                args.arch,
                batch_size=args.batch_size,
                top_fraction=args.top_fraction,
                top_m=args.top_m,
                device=device,
                progress=bar.update,
            )
        except ValueError as exc:
            fail(str(exc))
    atlas.save(args.out)
    counts = ", ".join(f"{label} {n}" for label, n in atlas.counts().items())
    n_filters = sum(atlas.n_filters.values())
    print(
        f"atlas of {atlas.arch} ({n_filters} filters in {', '.join(atlas.blocks)}) from {atlas.n_images} "
        f"slices in {atlas.build_seconds:.1f} s: {len(atlas.entries)} entries ({counts}) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
