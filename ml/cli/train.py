"""Command line of ``ml.train``: load a phantom-layout dataset, split it by patient, train, summarise.

::

    python -m ml.train --recipe lite --data DIR --out DIR [--step M1..M4] [--epochs N]
        [--val-fraction 0.2] [--test-fraction 0.2] [--seed S] [--device cpu|cuda] [--no-resume]
        [--max-steps N] [--batch-size N] [--balanced-val N] [--threads N] [--cache DIR] [--quiet]
        [--allow-random-init]

``OUT/split.json`` records the patient split (the test cases are held out of training and validation);
``OUT/cache/`` the HU volumes as ``.npy``; ``OUT/checkpoints/``, ``OUT/bundle/``, ``OUT/metrics.json`` and
``OUT/history.json`` come from ``ml.train.train``. ImageNet weights: ``ml.weights``; a recipe that requires
them (``paper``) stops with an error without them unless ``--allow-random-init``. A missing or broken dataset
ends it with one ``error:`` line and status 2 (``ml.cli.common``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ml.cli.common import device_or_exit, fail, load_or_exit
from ml.data import CaseData, DatasetError, load_phantom_dataset, patient_split
from ml.recipes import RECIPES, STEPS, Recipe
from ml.train import ProgressEvent, train

__all__ = ["ProgressBars", "main"]


class ProgressBars:
    """tqdm bars for ``ProgressEvent``: one per arch and epoch (``ml.train`` logs each epoch's results)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.key: tuple[str, int] | None = None

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if not self.enabled:
            return
        if self.key != (event.arch, event.epoch):
            self.close()
            self.key = (event.arch, event.epoch)
            desc = f"{event.arch} epoch {event.epoch}"
            self.bar = tqdm(total=event.steps_per_epoch, desc=desc, unit="step", leave=False, file=sys.stderr)
        self.bar.update(event.step - self.bar.n)
        self.bar.set_postfix(loss=f"{event.loss:.4f}", lr=f"{event.lr:.1e}")
        if event.val_loss is not None:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar, self.key = None, None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _split_doc(sets: dict[str, list[CaseData]], args: argparse.Namespace) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "data": str(args.data),
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "test_fraction": args.test_fraction,
        "balanced_val_cases": args.balanced_val,
    }
    for name, cases in sets.items():
        doc[name] = [{"case_id": c.case_id, "patient_id": c.patient_id} for c in cases]
    return doc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ml.train", description="Train an ICH model bundle.")
    p.add_argument("--recipe", default="lite", choices=sorted(RECIPES), help="training recipe (default lite)")
    p.add_argument("--data", required=True, type=Path, help="phantom-layout dataset folder")
    p.add_argument("--out", required=True, type=Path, help="output folder (checkpoints, bundle, metrics)")
    p.add_argument("--step", choices=sorted(STEPS), help="ablation step (default: the recipe's)")
    p.add_argument("--epochs", type=int, help="maximum epochs (default: the recipe's)")
    p.add_argument("--max-steps", type=int, help="maximum steps per epoch (default: the recipe's)")
    p.add_argument("--batch-size", type=int, help="images per step (default: the recipe's)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of patients for validation")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of patients held out for testing")
    p.add_argument("--balanced-val", type=int, help="validation = N/2 ICH + N/2 non-ICH cases (the paper)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the training (default 0)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 on a busy machine)")
    p.add_argument("--cache", type=Path, help="HU cache folder (default OUT/cache)")
    p.add_argument("--no-resume", action="store_true", help="start over instead of resuming checkpoints")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--allow-random-init",
        action="store_true",
        help="start nets without ImageNet weights at random even where the recipe requires them (paper)",
    )
    return p


def _recipe_or_exit(args: argparse.Namespace) -> Recipe:
    """The recipe named on the command line with its overrides (seed, step, epochs, batch, steps)."""
    changes: dict[str, Any] = {"seed": args.seed}
    for key, value in (("step", args.step), ("max_epochs", args.epochs), ("batch_size", args.batch_size)):
        if value is not None:
            changes[key] = value
    if args.max_steps is not None:
        changes["max_steps_per_epoch"] = args.max_steps
    if args.allow_random_init:
        changes["allow_random_init"] = True
    try:
        return RECIPES[args.recipe].with_(**changes)
    except ValueError as exc:
        fail(str(exc))


def _split_or_exit(args: argparse.Namespace) -> tuple[dict[str, list[CaseData]], Path]:
    """The phantom cases split by patient, written to OUT/split.json (a resumed run must keep its split)."""
    cache = args.cache or args.out / "cache"
    cases = load_or_exit(
        lambda folder: load_phantom_dataset(folder, cache_dir=cache), args.data, errors=(DatasetError,)
    )
    try:
        split_sets = patient_split(
            cases, args.val_fraction, args.test_fraction, args.seed, True, args.balanced_val
        )
    except ValueError as exc:
        fail(str(exc))
    sets = dict(zip(("train", "val", "test"), split_sets, strict=True))
    if not cases:
        fail(f"{args.data}: the manifest lists no case")
    split = _split_doc(sets, args)
    split_path = args.out / "split.json"
    if not args.no_resume and split_path.is_file():
        previous = json.loads(split_path.read_text(encoding="utf-8"))
        if {k: previous.get(k) for k in ("train", "val")} != {k: split[k] for k in ("train", "val")}:
            fail(f"{split_path} holds another split; use --no-resume or another --out")
    args.out.mkdir(parents=True, exist_ok=True)
    split_path.write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
    return sets, split_path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 with one ``error:`` line on bad input)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    device = device_or_exit(args.device)
    recipe = _recipe_or_exit(args)
    sets, split_path = _split_or_exit(args)

    from tqdm.contrib.logging import logging_redirect_tqdm

    bars = ProgressBars(enabled=not args.quiet)
    try:
        with logging_redirect_tqdm():
            result = train(
                recipe,
                sets["train"],
                sets["val"],
                args.out,
                device=device,
                progress=bars,
                resume=not args.no_resume,
            )
    except ValueError as exc:
        fail(str(exc))
    finally:
        bars.close()
    m = result.metrics
    print(
        f"recipe {recipe.name} ({recipe.step.name}), archs {', '.join(recipe.archs)}: {len(sets['train'])} "
        f"training, {len(sets['val'])} validation, {len(sets['test'])} test cases (split: {split_path})"
    )
    print(f"validation mAP of the ensemble: slices {_fmt(m['val_map'])}, cases {_fmt(m['val_map_case'])}")
    thresholds = "  ".join(f"{label} {_fmt(t)}" for label, t in m["thresholds"].items())
    print(f"thresholds (case-level sensitivity >= {recipe.target_sensitivity}): {thresholds}")
    print(f"bundle: {result.bundle_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
