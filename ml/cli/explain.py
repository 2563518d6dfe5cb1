"""Command line of ``ml.explain``: attention maps, segmentation and prediction basis of one CT series.

::

    python -m ml.explain --model BUNDLE_DIR SERIES_DIR --out DIR [--atlas ATLAS_DIR] [--slices 3,4]
        [--label ANY] [--arch resnet50] [--device cpu] [--top-k 5]

Per label: the slices asked for (``--slices``), else those the bundle predicts positive, else its top slice;
``DIR`` receives an overlay and a map PNG per slice and label, the atlas thumbnails of the basis and
``explanation.json``. A missing or broken bundle, atlas or series ends it with one ``error:`` line and
status 2 (``ml.cli.common``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ml import explain
from ml.atlas import Atlas, AtlasError, load_atlas
from ml.bundle import Bundle, BundleError, load_bundle
from ml.cli.common import BUNDLE_MISSING, device_or_exit, fail, load_or_exit
from ml.explain import CaseExplanation, explain_case
from ml.infer import predict_bundle
from ml.labels import ANY
from ml.render import heatmap_png, map_png, patch_thumbnail
from ml.series import SeriesError, SeriesInfo, read_series
from ml.windowing import window

__all__ = ["main"]

#: Window of the overlay's background image (the usual reading window).
DISPLAY_WINDOW = (40.0, 80.0)
THUMBNAIL_PIXELS = 96


def _default_slices(bundle: Bundle, slice_probs: NDArray[np.float64], label: str) -> tuple[list[int], str]:
    """Slices the bundle predicts positive for ``label`` (p >= threshold), else its top slice.

    Args:
        slice_probs: ``(Z, C)`` the bundle's slice probabilities (``ml.infer.predict_bundle``).
    """
    probs = slice_probs[:, bundle.label_order.index(label)]
    top = int(np.argmax(probs))
    threshold = bundle.thresholds.get(label)
    if threshold is None:
        return [top], "top slice (the bundle has no threshold for this label)"
    positive = [int(k) for k in np.flatnonzero(probs >= threshold)]
    if not positive:
        return [top], f"top slice (no slice reaches the threshold {threshold:.3f})"
    return positive, f"slices with p >= {threshold:.3f}"


def _parse_slices(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--slices must be comma-separated slice indices like 3,4; got {text!r}") from None


def _write_outputs(
    out: Path, hu: NDArray[Any], explanation: CaseExplanation, atlas: Atlas | None
) -> list[dict[str, Any]]:
    rows = []
    for item in explanation:
        stem = f"slice_{item.slice_index:03d}_{item.label}"
        (out / f"{stem}_overlay.png").write_bytes(
            heatmap_png(window(hu[item.slice_index], *DISPLAY_WINDOW), item.map)
        )
        (out / f"{stem}_map.png").write_bytes(map_png(item.map))
        doc = item.to_dict(atlas) | {"overlay": f"{stem}_overlay.png", "map": f"{stem}_map.png"}
        if atlas is not None:
            for ranked in (*doc["basis"], *doc["candidates"]):
                name = f"atlas/entry_{ranked['entry']:05d}.png"
                if not (out / name).is_file():
                    (out / "atlas").mkdir(exist_ok=True)
                    i = ranked["entry"]
                    (out / name).write_bytes(
                        patch_thumbnail(atlas.patches[i], THUMBNAIL_PIXELS, atlas.maps[i])
                    )
                ranked["thumbnail"] = name
        rows.append(doc)
    return rows


def _table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'slice':>5} {'label':<5} {'p(net)':>7} {'max':>9} {'area %':>7}  basis (block:filter d)"]
    for row in rows:
        basis = ", ".join(
            f"{b['atlas_entry']['block']}:{b['atlas_entry']['filter']} {b['distance']:.3f}"
            for b in row["basis"][:3]
        )
        area = "-" if row["area_percent"] is None else f"{row['area_percent']:.1f}"
        lines.append(
            f"{row['slice']:>5} {row['label']:<5} {row['probability']:>7.3f} {row['raw_max']:>9.4g} "
            f"{area:>7}  {basis or '-'}"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.explain", description=explain.__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="model bundle folder (ml.bundle)")
    parser.add_argument("series", type=Path, help="folder of one DICOM CT series")
    parser.add_argument("--out", required=True, type=Path, help="folder for the PNGs and explanation.json")
    parser.add_argument("--atlas", type=Path, default=None, help="atlas folder (python -m ml.atlas)")
    parser.add_argument(
        "--slices", default=None, help="slice indices, e.g. 3,4 (default: predicted positive)"
    )
    parser.add_argument("--label", default=None, help="labels, comma-separated (default ANY)")
    parser.add_argument(
        "--arch", default=None, help="net of the bundle (default resnet50 if there, else first)"
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--top-k", type=int, default=5, help="prediction-basis entries per slice (default 5)")
    return parser


def _load(args: argparse.Namespace) -> tuple[Bundle, Atlas | None, NDArray[Any], SeriesInfo]:
    """The bundle, the atlas (or None) and the series; a bad one ends the run with one ``error:`` line."""
    bundle = load_or_exit(load_bundle, args.model, errors=(BundleError,), missing=BUNDLE_MISSING)
    atlas = None
    if args.atlas is not None:
        atlas = load_or_exit(load_atlas, args.atlas, errors=(AtlasError,))
    hu, info = load_or_exit(read_series, args.series, errors=(SeriesError,))
    return bundle, atlas, hu, info


def _explain_all(
    args: argparse.Namespace, bundle: Bundle, atlas: Atlas | None, hu: NDArray[Any], labels: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, str], CaseExplanation]:
    """Explain each label on its slices and write the PNGs; (rows, how slices were chosen, last result)."""
    fixed = _parse_slices(args.slices) if args.slices else None
    if fixed is None:
        slice_probs = predict_bundle(bundle, hu, device=args.device).slices
    rows: list[dict[str, Any]] = []
    selections: dict[str, str] = {}
    for label in labels:
        if fixed is None:
            chosen, selections[label] = _default_slices(bundle, slice_probs, label)
        else:
            chosen, selections[label] = fixed, "--slices"
        explanation = explain_case(
            bundle, hu, slices=chosen, labels=[label], atlas=atlas, arch=args.arch, device=args.device,
            top_k=args.top_k,
        )  # fmt: skip
        rows += _write_outputs(args.out, hu, explanation, atlas)
    return rows, selections, explanation


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ml.explain --model BUNDLE_DIR SERIES_DIR --out DIR [--atlas DIR] [--slices] [--label]``."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.device = device_or_exit(args.device)
    bundle, atlas, hu, info = _load(args)
    order = bundle.label_order
    default = [ANY if ANY in order else order[0]]
    labels = [x.strip().upper() for x in args.label.split(",")] if args.label else default
    unknown = [label for label in labels if label not in order]
    if unknown:
        fail(f"--label {','.join(unknown)} not in the bundle's labels {', '.join(order)}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        rows, selections, last = _explain_all(args, bundle, atlas, hu, labels)
    except ValueError as exc:
        fail(str(exc))
    doc = {
        "series": str(info.folder),
        "bundle": str(bundle.path),
        "atlas": None if args.atlas is None else str(args.atlas),
        "arch": last.arch,
        "target_layer": last.target_layer,
        "input_size": last.input_size,
        "selection": selections,
        "items": rows,
    }
    (args.out / "explanation.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(_table(rows))
    print(f"wrote {len(rows)} overlays and maps and explanation.json to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
