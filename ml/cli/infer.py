"""Command line of ``ml.infer``: the bundle's probabilities and decisions for one CT series.

::

    python -m ml.infer --model BUNDLE_DIR SERIES_DIR [--device cpu|cuda] [--batch-size N] [--json]

Prints one row per slice (probability per label) and the case rows (probability, threshold, decision), or
with ``--json`` the document of ``result_dict``. A missing or broken bundle or series ends it with one
``error:`` line and status 2 (``ml.cli.common``).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ml import infer
from ml.bundle import Bundle, BundleError, load_bundle
from ml.cli.common import BUNDLE_MISSING, device_or_exit, load_or_exit
from ml.infer import CPU_BATCH_SIZE, CUDA_BATCH_SIZE, BundlePrediction, predict_bundle
from ml.series import SeriesError, SeriesInfo, read_series

__all__ = ["format_table", "main", "result_dict"]


def _number(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def result_dict(result: BundlePrediction, info: SeriesInfo, bundle: Bundle) -> dict[str, Any]:
    """The JSON document of the command line: per-slice and case probabilities, thresholds, decisions."""
    labels = result.label_order
    return {
        "series": str(info.folder),
        "series_uid": info.series_uid,
        "bundle": str(bundle.path),
        "archs": bundle.archs,
        "labels": list(labels),
        "slices": [
            {
                "index": k,
                "z": _number(info.z[k]),
                "file": info.files[k].name,
                "probabilities": {label: _number(result.slices[k, i]) for i, label in enumerate(labels)},
            }
            for k in range(len(result.slices))
        ],
        "case": {
            label: {
                "probability": _number(result.case[i]),
                "threshold": result.thresholds.get(label),
                "positive": result.positive[label],
            }
            for i, label in enumerate(labels)
        },
        "n_images": result.n_images,
        "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
    }


def format_table(doc: Mapping[str, Any]) -> str:
    """The human-readable report of ``result_dict``: one row per slice, then the case rows."""
    labels = doc["labels"]
    head = f"{'slice':>5} {'z_mm':>8} " + " ".join(f"{label:>6}" for label in labels)
    lines = [f"series {doc['series']} ({len(doc['slices'])} slices); bundle {doc['bundle']}", head]
    for s in doc["slices"]:
        z = "-" if s["z"] is None else f"{s['z']:.1f}"
        probs = " ".join(f"{s['probabilities'][label]:6.3f}" for label in labels)
        lines.append(f"{s['index']:>5} {z:>8} {probs}")
    case = doc["case"]

    def row(name: str, cell: Any) -> str:
        return f"{name:>14} " + " ".join(f"{cell(case[label]):>6}" for label in labels)

    decision = {True: "yes", False: "no", None: "n/a"}
    lines += [
        row("case", lambda c: f"{c['probability']:.3f}"),
        row("threshold", lambda c: "-" if c["threshold"] is None else f"{c['threshold']:.3f}"),
        row("positive", lambda c: decision[c["positive"]]),
    ]
    if any(case[label]["positive"] is None for label in labels):
        lines.append("n/a: the bundle has no threshold for this label, so no decision is made")
    images = sum(doc["n_images"].values())
    lines.append(f"forwarded {images} images in {doc['timings_s']['total']:.2f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ml.infer --model BUNDLE_DIR SERIES_DIR [--device cpu|cuda] [--json]``."""
    parser = argparse.ArgumentParser(prog="python -m ml.infer", description=infer.__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="model bundle folder (ml.bundle)")
    parser.add_argument("series", type=Path, help="folder of one DICOM CT series")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"images per forward pass (default {CUDA_BATCH_SIZE} on CUDA, {CPU_BATCH_SIZE} on a CPU)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    device = device_or_exit(args.device)
    bundle = load_or_exit(load_bundle, args.model, errors=(BundleError,), missing=BUNDLE_MISSING)
    hu, info = load_or_exit(read_series, args.series, errors=(SeriesError,))
    result = predict_bundle(bundle, hu, device=device, batch_size=args.batch_size)
    doc = result_dict(result, info, bundle)
    print(json.dumps(doc, indent=1) if args.json else format_table(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
