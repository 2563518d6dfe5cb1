"""Build the demo model that ``make run`` installs: a ``lite`` bundle trained on phantoms, with its atlas.

::

    python -m ml.cli.demo_model --out ichweb/modeling/demo_model [--cases 1500] [--seed 7] [--size 256]
        [--epochs 18] [--work DIR] [--workers 2] [--threads 2] [--quiet]

Reproducible from nothing: it generates ``--cases`` phantom cases (``ml.phantom``, seed ``--seed``), splits
them by patient (60/20/20, stratified by ICH), trains ``RECIPES["lite"]`` on CPU (operating points on the
validation cases), evaluates the test cases, builds the atlas of prediction-basis exemplars over the
training slices, and writes into ``--out``:

- ``bundle/`` (``ml.bundle``) and ``atlas/`` (``ml.atlas``);
- ``metrics.json``: ``{"validation": ..., "test": ...}`` as a trained model version stores them, and the
  command line and seed that made it;
- ``SHA256SUMS``: one ``<sha256>  <relative path>`` line per file, checked when the demo installs it.

About 20 minutes on 2 CPU cores (1,500 cases, 18 epochs of 200 steps). Float results can differ in the last
bits between CPUs, so a rebuild on another machine gives a model of the same quality but other sums; the sums
guard the shipped files.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ml.bundle import file_sha256, load_bundle
from ml.cli.train import ProgressBars
from ml.data import load_phantom_dataset, patient_split
from ml.explain import build_bundle_atlas
from ml.infer import predict_bundle
from ml.labels import LABELS
from ml.phantom import PhantomConfig, generate_dataset
from ml.recipes import RECIPES
from ml.train import train
from ml.validation import cohort_metrics

__all__ = ["SUMS", "build_demo_model", "main", "sha256sums", "verify_sums"]

SUMS = "SHA256SUMS"
#: Epochs of ``lite``'s 200 steps for the demo bundle: built once, offline, it trains longer than the
#: benchmark's ``lite`` (5 epochs), which the phantom ablation's 15-minute budget bounds.
DEMO_EPOCHS = 18


def sha256sums(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``folder`` except ``SHA256SUMS``."""
    return {
        str(p.relative_to(folder)): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != SUMS
    }


def verify_sums(folder: Path) -> dict[str, str]:
    """The sums of ``folder/SHA256SUMS``, after checking every listed file against them.

    Raises:
        ValueError: the list is missing, a file is missing, or a file's sha256 differs (the message names it
            and says to rebuild with ``python -m ml.cli.demo_model``).
    """
    listing = folder / SUMS
    if not listing.is_file():
        raise ValueError(f"{listing}: missing; rebuild the demo model with python -m ml.cli.demo_model")
    expected = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if name:
            expected[name] = digest
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise ValueError(
                f"{path}: listed in {SUMS} but missing; rebuild with python -m ml.cli.demo_model"
            )
        if file_sha256(path) != digest:
            raise ValueError(
                f"{path}: sha256 differs from {SUMS} (a damaged or edited file); restore it from the "
                "repository or rebuild with python -m ml.cli.demo_model"
            )
    return expected


def build_demo_model(
    out: Path,
    *,
    cases: int,
    seed: int,
    size: int,
    work: Path,
    workers: int,
    progress: bool,
    epochs: int = DEMO_EPOCHS,
) -> dict[str, object]:
    """Generate, train, evaluate and build the atlas (module doc); returns the metrics written."""
    started = time.perf_counter()
    data_dir = work / f"phantoms-s{seed}-n{cases}-px{size}"
    if not (data_dir / "manifest.json").is_file():
        generate_dataset(
            PhantomConfig(seed=seed, size=size), data_dir, cases, progress=progress, workers=workers
        )
    all_cases = load_phantom_dataset(data_dir, cache_dir=work / "hu-cache")
    train_cases, val_cases, test_cases = patient_split(all_cases, 0.2, 0.2, seed=seed)
    recipe = RECIPES["lite"].with_(seed=seed, max_epochs=epochs)
    bars = ProgressBars(enabled=progress)
    try:
        result = train(
            recipe, train_cases, val_cases, work / "run", device="cpu", progress=bars, resume=False
        )
    finally:
        bars.close()
    bundle = load_bundle(result.bundle_dir)

    probs, truth = [], []
    for case in test_cases:
        probs.append(predict_bundle(bundle, np.asarray(case.volume())).case)
        truth.append(case.labels.max(axis=0))
    test = cohort_metrics(np.stack(truth), np.stack(probs), bundle.label_order, bundle.thresholds)

    atlas = build_bundle_atlas(bundle, train_cases)  # every training slice, as the paper's atlas

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(result.bundle_dir, out / "bundle")
    atlas.save(out / "atlas")
    metrics = {
        "validation": result.metrics,
        "test": test,
        "built_by": (
            f"python -m ml.cli.demo_model --cases {cases} --seed {seed} --size {size} --epochs {epochs}"
        ),
        "split": {"train": len(train_cases), "val": len(val_cases), "test": len(test_cases)},
        "train_positive_cases": {
            label: int(sum(c.labels[:, i].any() for c in train_cases)) for i, label in enumerate(LABELS)
        },
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float) + "\n", encoding="utf-8")
    sums = sha256sums(out)
    (out / SUMS).write_text("".join(f"{d}  {n}\n" for n, d in sums.items()), encoding="utf-8")
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.cli.demo_model", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (replaced)")
    parser.add_argument("--cases", type=int, default=1500, help="phantom cases (default 1500)")
    parser.add_argument(
        "--epochs", type=int, default=DEMO_EPOCHS, help=f"epochs of 200 steps (default {DEMO_EPOCHS})"
    )
    parser.add_argument("--seed", type=int, default=7, help="phantom, split and training seed (default 7)")
    parser.add_argument("--size", type=int, default=256, help="phantom image side (default 256)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ichweb-demo-model")
    parser.add_argument("--workers", type=int, default=2, help="processes writing phantoms (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.cases < 20:
        parser.error("--cases must be >= 20 (every split needs positive and negative cases)")
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    torch.set_num_threads(max(1, args.threads))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ml.data").setLevel(logging.WARNING)
    metrics = build_demo_model(
        args.out,
        cases=args.cases,
        seed=args.seed,
        size=args.size,
        work=args.work,
        workers=args.workers,
        progress=not args.quiet,
        epochs=args.epochs,
    )
    test = metrics["test"]
    print(
        f"demo model written to {args.out} in {metrics['minutes']} min; test cohort: {json.dumps(test)[:400]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
