"""``python -m ml.phantom --cases N --seed S --out DIR``: write a synthetic head-CT dataset."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from ml.phantom.config import DEFAULT_PREVALENCE, PhantomConfig, parse_prevalence
from ml.phantom.storage import generate_dataset


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    defaults = PhantomConfig()
    p = argparse.ArgumentParser(prog="python -m ml.phantom", description=__doc__)
    p.add_argument("--cases", type=int, required=True, help="number of cases")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", type=int, default=defaults.size, help="rows and columns (default 512)")
    p.add_argument("--negative-fraction", type=float, default=defaults.negative_fraction)
    default_prev = ",".join(f"{k}={v}" for k, v in DEFAULT_PREVALENCE.items())
    p.add_argument(
        "--prevalence",
        type=parse_prevalence,
        default=None,
        help=f"weights of the primary subtype of positive cases, unnamed ones 0 (default {default_prev})",
    )
    p.add_argument("--multi-fraction", type=float, default=defaults.multi_fraction)
    p.add_argument("--denoised", action="store_true", help="also write a 3x3 median-filtered series")
    p.add_argument("--slices-min", type=int, default=defaults.slices_min)
    p.add_argument("--slices-max", type=int, default=defaults.slices_max)
    p.add_argument("--workers", type=int, default=1, help="processes writing cases (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = PhantomConfig(
            seed=args.seed,
            size=args.size,
            slices_min=args.slices_min,
            slices_max=args.slices_max,
            negative_fraction=args.negative_fraction,
            prevalence=args.prevalence if args.prevalence is not None else dict(DEFAULT_PREVALENCE),
            multi_fraction=args.multi_fraction,
            denoised=args.denoised,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.cases < 0:
        parser.error("--cases must be >= 0")
    start = time.perf_counter()
    manifest = generate_dataset(config, args.out, args.cases, progress=not args.quiet, workers=args.workers)
    positives = sum(1 for case in manifest["cases"] if case["subtypes"])
    elapsed = time.perf_counter() - start
    print(
        f"wrote {args.cases} cases ({positives} positive) to {args.out} in {elapsed:.1f} s", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
