"""The M1 -> M4 ablation of paper A (Fig. 3) on phantom CT: train ``lite`` per step, test each bundle.

    .venv/bin/python bench/ml_phantom.py [--train 600] [--val 100] [--test 100] [--size 256]
        [--slices-min 24] [--slices-max 28] [--seed 0] [--steps M1,M2,M3,M4] [--epochs N]
        [--max-steps-per-epoch N] [--jobs 2] [--gen-workers 2] [--threads 1] [--bootstrap 2000]
        [--out DIR] [--budget-minutes 15] [--quiet] [--no-explain] [--loc-slices 100] [--quick]

1. **Data.** ``train + val + test`` phantom cases at ``--size`` px (``ml.phantom.generate_dataset``,
   ``--gen-workers`` processes) are written to ``OUT/phantom/<options>/`` once; a rerun with the same options
   reuses them (and the HU ``.npy`` cache of ``ml.data.load_phantom_dataset`` in ``OUT/hu-cache/<options>/``).
   The cases are split at patient level (every phantom case has its own patient) into exactly
   ``--train/--val/--test`` patients, ICH-positive and negative patients allotted to each set in proportion.
2. **Training.** For each step of ``--steps``: ``ml.train.train`` with ``RECIPES["lite"]`` at that step
   (``--epochs`` and ``--max-steps-per-epoch`` override its caps), from scratch, into
   ``OUT/runs/<options>/<step>/``; ``--jobs`` steps train at once, each in its own process with
   ``--threads`` torch threads (two one-thread processes do ~1.5x the work of one two-thread process on
   2 cores). Every step gets the same number of optimisation steps, so the ablation compares recipes, not
   budgets.
3. **Test.** Each bundle predicts every test case (``ml.infer.predict_bundle``): slice-level mAP (over the
   net's outputs and over the five subtypes), case-level AUC (case = max over slices) for ANY and each
   subtype, sensitivity / specificity of ANY at the bundle's validation operating point. **Intervals:**
   ``--bootstrap`` case resamples, the same for every step (paired), give 95 % percentile intervals of the
   ANY AUC, of the mean subtype AUC and of each step's difference to the previous one.
4. **Learning curve**: validation mAP and case AUC of ANY after each epoch, against training minutes.
5. **Lewicki's Table III** on the last step's bundle: at p >= 0.5 per slice, recall and precision of the
   learned ANY output against the OR of the five subtype outputs, their AUCs, and the per-slice exact-match
   accuracy (all six labels right).
6. **Explainability** (skip with ``--no-explain``), on the last step's bundle: the localisation check of
   paper A -- the eq. 5 map of ANY (``ml.explain.explain_case``) on up to ``--loc-slices`` positive test
   slices with ground-truth bleeding points, the share of points inside the 20 % segmentation (overall, on
   slices with 1-2 and >= 3 points; paper 78.1, 91.1 and 75.5 %) and the mean segmentation area as % of the
   head (paper 8.9 +/- 2.1 %); then the atlas over the training slices: entries per label, build time.
7. **Targets**: each figure against its target, PASS or MISS with the gap.

M1 has five outputs and no ANY output: its ANY score is the maximum of the five subtype probabilities, and its
ANY operating point is chosen the bundle's way on that score over the validation cases. The printed tables
are also written to ``OUT/ml_phantom-<options>.json``. ``ml`` only; Django is never imported.

``--quick`` gives the smallest run (a smoke test of the whole script, seconds on 2 cores); flags given
explicitly still win.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.bundle import load_bundle  # noqa: E402
from ml.cam import localisation_overlap, points_in_segmentation  # noqa: E402
from ml.cli.train import ProgressBars  # noqa: E402
from ml.data import CaseData, load_phantom_dataset  # noqa: E402
from ml.explain import build_bundle_atlas, explain_case  # noqa: E402
from ml.infer import predict_bundle  # noqa: E402
from ml.labels import ANY, LABELS, SUBTYPES  # noqa: E402
from ml.phantom import (  # noqa: E402
    GENERATOR_VERSION,
    PhantomConfig,
    generate_dataset,
    read_ground_truth,
    read_manifest,
)
from ml.recipes import RECIPES, STEPS, Recipe  # noqa: E402
from ml.stats import mean_average_precision, roc_auc, thresholds_for_sensitivity  # noqa: E402
from ml.train import train  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from phantom_report import (  # noqa: E402
    ablation_intervals,
    case_scores,
    check_targets,
    format_intervals,
    format_learning_curve,
    format_table_iii,
    table_iii,
)

DEFAULT_OUT = Path(tempfile.gettempdir()) / "ichweb-ml-phantom"
ANY_INDEX = LABELS.index(ANY)
#: Column order of the table after the row label.
COLUMNS: tuple[str, ...] = (
    "val_map",
    "test_map",
    "test_map_subtypes",
    *(f"auc_{label}" for label in (ANY, *SUBTYPES)),
    "sens_any",
    "spec_any",
    "train_min",
)
HEADERS: dict[str, str] = {
    "val_map": "val mAP",
    "test_map": "test mAP",
    "test_map_subtypes": "mAP 5sub",
    **{f"auc_{label}": f"AUC {label}" for label in (ANY, *SUBTYPES)},
    "sens_any": "sens ANY",
    "spec_any": "spec ANY",
    "train_min": "train min",
}

logger = logging.getLogger("bench.ml_phantom")


# ----------------------------------------------------------------------------------------------- data


def options_tag(args: argparse.Namespace) -> str:
    n = args.train + args.val + args.test
    return f"s{args.seed}-n{n}-px{args.size}-z{args.slices_min}-{args.slices_max}"


def phantom_dataset(args: argparse.Namespace) -> tuple[Path, bool]:
    """The phantom folder for these options, generated unless a complete one is there; (folder, reused)."""
    config = PhantomConfig(
        seed=args.seed, size=args.size, slices_min=args.slices_min, slices_max=args.slices_max
    )
    n_cases = args.train + args.val + args.test
    folder = args.out / "phantom" / options_tag(args)
    if (folder / "manifest.json").is_file():
        manifest = read_manifest(folder)
        options = {k: v for k, v in manifest.get("options", {}).items() if k != "min_area_px"}
        if (
            manifest.get("generator") == GENERATOR_VERSION
            and manifest.get("n_cases") == n_cases
            and options == json.loads(json.dumps(config.to_dict()))
        ):
            return folder, True
        (folder / "manifest.json").unlink()
    generate_dataset(config, folder, n_cases, progress=not args.quiet, workers=args.gen_workers)
    return folder, False


def _largest_remainder(total: int, sizes: Sequence[int]) -> list[int]:
    """``total`` shared among strata in proportion to ``sizes`` (largest remainder), capped by each size."""
    whole = sum(sizes)
    if whole == 0:
        return [0] * len(sizes)
    exact = [total * s / whole for s in sizes]
    share = [min(math.floor(e), s) for e, s in zip(exact, sizes, strict=True)]
    order = sorted(range(len(sizes)), key=lambda i: exact[i] - share[i], reverse=True)
    while sum(share) < min(total, whole):
        for i in order:
            if sum(share) < total and share[i] < sizes[i]:
                share[i] += 1
    return share


def split_by_counts(
    cases: Sequence[CaseData], n_train: int, n_val: int, n_test: int, seed: int
) -> tuple[list[CaseData], list[CaseData], list[CaseData]]:
    """(train, val, test) with exactly these numbers of patients, stratified by ICH (case order kept).

    Patients are shuffled with ``seed``; the ICH-positive and the negative patients each give test, then
    validation, their proportional share of the counts, so every set has both kinds when there are enough.
    """
    groups: dict[str, list[CaseData]] = {}
    for case in cases:
        groups.setdefault(case.patient_id, []).append(case)
    if n_train + n_val + n_test > len(groups):
        raise ValueError(f"asked for {n_train + n_val + n_test} patients, the dataset has {len(groups)}")
    rng = np.random.default_rng(seed)
    patients = [str(p) for p in rng.permutation(sorted(groups))]
    positive = [p for p in patients if any(c.is_positive for c in groups[p])]
    negative = [p for p in patients if p not in set(positive)]
    strata = [positive, negative]
    chosen: dict[str, list[str]] = {"test": [], "val": [], "train": []}
    left = [list(s) for s in strata]
    for name, count in (("test", n_test), ("val", n_val), ("train", n_train)):
        shares = _largest_remainder(count, [len(s) for s in left])
        for i, share in enumerate(shares):
            chosen[name] += left[i][:share]
            left[i] = left[i][share:]

    def members(ids: list[str]) -> list[CaseData]:
        keep = set(ids)
        return [c for c in cases if c.patient_id in keep]

    return members(chosen["train"]), members(chosen["val"]), members(chosen["test"])


def describe(cases: Sequence[CaseData]) -> str:
    y = np.stack([c.labels.max(axis=0) for c in cases]) if cases else np.zeros((0, len(LABELS)))
    counts = ", ".join(f"{label} {int(y[:, i].sum())}" for i, label in enumerate(LABELS))
    slices = sum(c.n_slices for c in cases)
    return f"{len(cases)} cases, {slices} slices; positive cases: {counts}"


# ----------------------------------------------------------------------------------------- training


def step_recipe(args: argparse.Namespace, step: str) -> Recipe:
    base = RECIPES["lite"]
    changes: dict[str, Any] = {"step": STEPS[step], "seed": args.seed, "input_size": args.input_size}
    if args.epochs is not None:
        changes["max_epochs"] = args.epochs
    if args.max_steps_per_epoch is not None:
        changes["max_steps_per_epoch"] = args.max_steps_per_epoch
    return dataclasses.replace(base, **changes)


# ---------------------------------------------------------------------------------------- evaluation


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _any_scores(case_probs: np.ndarray, label_order: Sequence[str]) -> np.ndarray:
    """Case ANY score: the ANY output, or (M1) the maximum of the subtype outputs."""
    if ANY in label_order:
        return case_probs[:, list(label_order).index(ANY)]
    return case_probs[:, [list(label_order).index(s) for s in SUBTYPES]].max(axis=1)


def predict_cases(bundle: Any, cases: Sequence[CaseData]) -> tuple[list[np.ndarray], np.ndarray]:
    """Slice probabilities per case and ``(N, C)`` case probabilities, in the bundle's label order."""
    slices, case_probs = [], []
    for case in cases:
        pred = predict_bundle(bundle, np.asarray(case.volume()))
        slices.append(pred.slices)
        case_probs.append(pred.case)
    return slices, np.stack(case_probs)


def evaluate(
    bundle_dir: Path, recipe: Recipe, val_cases: Sequence[CaseData], test_cases: Sequence[CaseData]
) -> dict[str, Any]:
    """Test metrics of one bundle (module doc 3)."""
    bundle = load_bundle(bundle_dir)
    order = bundle.label_order
    cols = [LABELS.index(label) for label in order]
    slice_p, case_p = predict_cases(bundle, test_cases)
    sp = np.concatenate(slice_p)
    sy = np.concatenate([c.labels[:, cols] for c in test_cases]).astype(np.int64)
    case_y = np.stack([c.labels.max(axis=0) for c in test_cases]).astype(np.int64)  # LABELS order
    sub = [order.index(s) for s in SUBTYPES]
    out: dict[str, Any] = {
        "test_map": _nan_to_none(mean_average_precision(sy, sp)),
        "test_map_subtypes": _nan_to_none(mean_average_precision(sy[:, sub], sp[:, sub])),
    }
    any_score = _any_scores(case_p, order)
    out[f"auc_{ANY}"] = _nan_to_none(roc_auc(case_y[:, ANY_INDEX], any_score))
    for label in SUBTYPES:
        out[f"auc_{label}"] = _nan_to_none(
            roc_auc(case_y[:, LABELS.index(label)], case_p[:, order.index(label)])
        )

    if ANY in order:
        threshold = bundle.thresholds.get(ANY)
        threshold_source = "bundle"
    else:  # M1: the bundle's rule on max-of-subtypes over the validation cases
        _, val_p = predict_cases(bundle, val_cases)
        val_y = np.array([c.is_positive for c in val_cases], dtype=np.int64)
        val_any = _any_scores(val_p, order)
        t = thresholds_for_sensitivity(val_y[:, None], val_any[:, None], recipe.target_sensitivity)[0]
        threshold = _nan_to_none(float(t))
        threshold_source = "validation, max of subtypes"
    y_any = case_y[:, ANY_INDEX].astype(bool)
    out["scores"] = case_scores(case_p, order)
    out["case_y"] = case_y.tolist()
    out["table_iii"] = table_iii(sy, sp, order) if ANY in order else None
    sens = spec = None
    if threshold is not None:
        called = any_score >= threshold
        sens = float(called[y_any].mean()) if y_any.any() else None
        spec = float((~called[~y_any]).mean()) if (~y_any).any() else None
    out.update(
        sens_any=sens,
        spec_any=spec,
        threshold_any=threshold,
        threshold_any_source=threshold_source,
        n_outputs=len(order),
    )
    return out


# ------------------------------------------------------------------------------------ explainability


def localisation_check(
    bundle: Any, folder: Path, test_cases: Sequence[CaseData], max_slices: int
) -> dict[str, Any]:
    """Bleeding points inside the ANY attention segmentation, and its area as % of the head (module doc 4)."""
    flags: list[list[bool]] = []
    areas: list[float] = []
    started = time.perf_counter()
    for case in test_cases:
        if len(flags) >= max_slices:
            break
        truth = read_ground_truth(folder / case.case_id)
        points: dict[int, list[tuple[int, int]]] = {}
        for p in truth.points:
            points.setdefault(p.slice, []).append((p.x, p.y))
        any_col = LABELS.index(ANY)
        chosen = [k for k in sorted(points) if case.labels[k, any_col] > 0][: max_slices - len(flags)]
        if not chosen:
            continue
        explained = explain_case(bundle, np.asarray(case.volume()), slices=chosen, labels=[ANY])
        for item in explained:
            flags.append(points_in_segmentation(item.segmentation, points[item.slice_index]).tolist())
            areas.append(item.area_percent)
    seconds = time.perf_counter() - started
    overlap = localisation_overlap(flags)
    area = np.array([a for a in areas if math.isfinite(a)])
    return {
        "overlap": overlap.to_dict(),
        "area_percent_mean": float(area.mean()) if area.size else None,
        "area_percent_sd": float(area.std(ddof=1)) if area.size > 1 else None,
        "n_slices": len(flags),
        "seconds": seconds,
    }


def atlas_summary(bundle: Any, train_cases: Sequence[CaseData], quiet: bool) -> dict[str, Any]:
    """Build the atlas over the training slices: entries per label, filters, build time (module doc 4)."""
    from tqdm import tqdm

    with tqdm(total=sum(c.n_slices for c in train_cases), unit="slice", desc="atlas", disable=quiet) as bar:
        atlas = build_bundle_atlas(bundle, train_cases, progress=bar.update)
    return {
        "arch": atlas.arch,
        "entries": len(atlas.entries),
        "per_label": atlas.counts(),
        "filters": sum(atlas.n_filters.values()),
        "blocks": list(atlas.blocks),
        "capped_entries": sum(e.capped for e in atlas.entries),
        "n_images": atlas.n_images,
        "build_seconds": atlas.build_seconds,
    }


def _percent(count: dict[str, Any]) -> str:
    if count["percent"] is None:
        return f"{count['inside']}/{count['total']} (n/a)"
    return f"{count['inside']}/{count['total']} ({count['percent']:.1f} %)"


def format_explain(step: str, doc: dict[str, Any]) -> str:
    loc, atlas = doc["localisation"], doc["atlas"]
    overlap = loc["overlap"]
    area = "n/a"
    if loc["area_percent_mean"] is not None:
        sd = loc["area_percent_sd"]
        area = f"{loc['area_percent_mean']:.1f}" + ("" if sd is None else f" +/- {sd:.1f}")
    per_label = ", ".join(f"{label} {n}" for label, n in atlas["per_label"].items())
    return "\n".join(
        [
            f"Explainability of the {step} bundle ({atlas['arch']}): ANY attention maps on "
            f"{loc['n_slices']} positive test slices with bleeding points ({loc['seconds']:.1f} s)",
            f"  points in the 20 % segmentation: {_percent(overlap['overall'])}  [paper 260/333 (78.1 %)]",
            f"    slices with 1-2 points: {_percent(overlap['slices_1_2_points'])}  [paper 51/56 (91.1 %)]",
            f"    slices with >= 3: {_percent(overlap['slices_3plus_points'])}  [paper 209/277 (75.5 %)]",
            f"  segmentation area: {area} % of the head  [paper 8.9 +/- 2.1 %]",
            f"  atlas: {atlas['entries']} entries ({per_label}) from {atlas['filters']} filters of "
            f"{len(atlas['blocks'])} blocks over {atlas['n_images']} training slices, "
            f"built in {atlas['build_seconds']:.1f} s ({atlas['capped_entries']} counts capped)",
        ]
    )


# -------------------------------------------------------------------------------------------- table


def _cell(value: float | None, column: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}" if column == "train_min" else f"{value:.3f}"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    widths = {c: max(len(HEADERS[c]), 5) for c in COLUMNS}
    head = "step  " + "  ".join(HEADERS[c].rjust(widths[c]) for c in COLUMNS)
    lines = [head, "-" * len(head)]
    for row in rows:
        name = row["step"] + ("*" if row["n_outputs"] == len(SUBTYPES) else "")
        lines.append(f"{name:<4}  " + "  ".join(_cell(row.get(c), c).rjust(widths[c]) for c in COLUMNS))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=600, help="training cases (patients), default 600")
    p.add_argument("--val", type=int, default=100, help="validation cases, default 100")
    p.add_argument("--test", type=int, default=100, help="test cases, default 100")
    p.add_argument("--size", type=int, default=256, help="phantom image side in pixels (default 256)")
    p.add_argument(
        "--input-size", type=int, default=None, help="network input side (default: the lite recipe's, 128)"
    )
    p.add_argument("--slices-min", type=int, default=24, help="fewest slices per case (default 24)")
    p.add_argument("--slices-max", type=int, default=28, help="most slices per case (default 28)")
    p.add_argument("--seed", type=int, default=0, help="phantom, split and training seed (default 0)")
    p.add_argument("--steps", default="M1,M2,M3,M4", help="ablation steps, comma-separated (default all)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: lite's)")
    p.add_argument("--max-steps-per-epoch", type=int, default=None, help="steps per epoch (default: lite's)")
    p.add_argument("--jobs", type=int, default=2, help="steps trained at once, one process each (default 2)")
    p.add_argument("--gen-workers", type=int, default=2, help="processes writing phantoms (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process (default 1)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"work folder (default {DEFAULT_OUT})")
    p.add_argument("--budget-minutes", type=float, default=15.0, help="time budget to compare with")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-explain", action="store_true", help="skip the localisation check and the atlas")
    p.add_argument(
        "--loc-slices", type=int, default=100, help="positive test slices for the localisation check (100)"
    )
    p.add_argument("--quick", action="store_true", help="smallest settings: a smoke test of the script")
    return p


#: ``--quick``: defaults of a smoke run (flags given explicitly still win).
QUICK: dict[str, Any] = {
    "train": 8,
    "val": 3,
    "test": 3,
    "size": 64,
    "input_size": 64,
    "slices_min": 8,
    "slices_max": 8,
    "steps": "M4",
    "epochs": 1,
    "max_steps_per_epoch": 3,
    "loc_slices": 20,
    "jobs": 1,
    "gen_workers": 1,
    "bootstrap": 200,
}


def _load_split(args: argparse.Namespace, folder: Path) -> tuple[list[CaseData], ...]:
    cases = load_phantom_dataset(folder, cache_dir=args.out / "hu-cache" / options_tag(args))
    return split_by_counts(cases, args.train, args.val, args.test, args.seed)


def run_step(args: argparse.Namespace, folder: Path, step: str, bars: bool) -> dict[str, Any]:
    """Train one step and test its bundle (module doc 2-3); runs in a worker process with ``--jobs``."""
    logging.basicConfig(level=logging.INFO, format=f"%(levelname)s {step} %(name)s: %(message)s", force=True)
    logging.getLogger("ml.data").setLevel(logging.WARNING)
    torch.set_num_threads(max(1, args.threads))
    train_cases, val_cases, test_cases = _load_split(args, folder)
    recipe = step_recipe(args, step)
    progress = ProgressBars(enabled=bars)
    t_train = time.perf_counter()
    try:
        from tqdm.contrib.logging import logging_redirect_tqdm

        with logging_redirect_tqdm():
            result = train(
                recipe,
                train_cases,
                val_cases,
                args.out / "runs" / options_tag(args) / step,
                device="cpu",
                progress=progress,
                resume=False,
            )
    finally:
        progress.close()
    train_s = time.perf_counter() - t_train
    t_test = time.perf_counter()
    metrics = evaluate(result.bundle_dir, recipe, val_cases, test_cases)
    per_arch = result.metrics["per_arch"][recipe.archs[0]]
    return {
        "step": step,
        "val_map": result.metrics["val_map"],
        **metrics,
        "train_min": train_s / 60,
        "test_min": (time.perf_counter() - t_test) / 60,
        "epochs": per_arch["epochs"],
        "best_epoch": per_arch["best_epoch"],
        "history": result.history,
        "bundle": str(result.bundle_dir),
    }


def run_steps(args: argparse.Namespace, folder: Path, steps: Sequence[str]) -> list[dict[str, Any]]:
    """Every step, ``--jobs`` at a time (spawned processes: a forked OpenMP runtime can hang)."""
    if args.jobs <= 1 or len(steps) == 1:
        return [run_step(args, folder, step, bars=not args.quiet) for step in steps]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(args.jobs, len(steps)), mp_context=context) as pool:
        futures = [pool.submit(run_step, args, folder, step, False) for step in steps]
        return [f.result() for f in futures]


def _step_line(row: dict[str, Any]) -> str:
    return (
        f"{row['step']}: val mAP {_cell(row['val_map'], '')}, test mAP {_cell(row['test_map'], '')}, "
        f"test AUC ANY {_cell(row[f'auc_{ANY}'], '')}; {row['epochs']} epochs (best {row['best_epoch']}); "
        f"train {row['train_min']:.1f} min, test {row['test_min'] * 60:.0f} s"
    )


def _explain(
    args: argparse.Namespace,
    folder: Path,
    rows: list[dict[str, Any]],
    train_cases: Sequence[CaseData],
    test_cases: Sequence[CaseData],
) -> dict[str, Any] | None:
    if args.no_explain:
        return None
    last = rows[-1]
    bundle = load_bundle(last["bundle"])
    if ANY not in bundle.label_order:
        print(f"\nexplainability skipped: the {last['step']} bundle has no ANY output")
        return None
    return {
        "step": last["step"],
        "localisation": localisation_check(bundle, folder, test_cases, args.loc_slices),
        "atlas": atlas_summary(bundle, train_cases, args.quiet),
    }


def _target_figures(
    rows: list[dict[str, Any]],
    intervals: list[dict[str, Any]],
    explain: dict[str, Any] | None,
    total_s: float,
) -> dict[str, float | None]:
    last, interval = rows[-1], intervals[-1]
    loc = explain["localisation"] if explain else None
    return {
        "auc_any": interval["auc_any"]["value"],
        "auc_subtypes": interval["auc_subtypes"]["value"],
        "val_map": last["val_map"],
        "points_inside": loc["overlap"]["overall"]["percent"] if loc else None,
        "area": loc["area_percent_mean"] if loc else None,
        "minutes": total_s / 60,
        "test_cases": float(len(last["case_y"])),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    steps = [s.strip().upper() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        parser.error(f"unknown steps {unknown}; valid: {', '.join(STEPS)}")
    if min(args.train, args.val) < 1 or args.test < 2 or args.jobs < 1 or args.bootstrap < 1:
        parser.error("need --train >= 1, --val >= 1, --test >= 2, --jobs >= 1 and --bootstrap >= 1")
    if args.input_size is None:
        args.input_size = RECIPES["lite"].input_size
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ml.data").setLevel(logging.WARNING)
    torch.set_num_threads(max(1, args.threads))
    started = time.perf_counter()
    recipe = step_recipe(args, steps[-1])
    print(
        f"ICHweb phantom ablation: lite recipe ({recipe.max_epochs} epochs x {recipe.max_steps_per_epoch} "
        f"steps of {recipe.batch_size}), steps {', '.join(steps)}; torch {torch.__version__} on CPU, "
        f"{args.jobs} job(s) x {args.threads} thread(s); budget {args.budget_minutes:g} min"
    )
    t0 = time.perf_counter()
    folder, reused = phantom_dataset(args)
    train_cases, val_cases, test_cases = _load_split(args, folder)
    data_s = time.perf_counter() - t0
    print(
        f"phantoms: {folder} ({'reused' if reused else 'generated'}; {args.size} px, "
        f"{args.slices_min}-{args.slices_max} slices; {data_s:.0f} s)"
    )
    for name, subset in (("train", train_cases), ("val", val_cases), ("test", test_cases)):
        print(f"  {name:<5}: {describe(subset)}")
    for step in steps:
        r = step_recipe(args, step)
        switches = [f.name for f in dataclasses.fields(r.step) if getattr(r.step, f.name) is True]
        print(
            f"  {step}: {', '.join(switches) or 'baseline'} | {r.n_outputs} outputs, loss {r.loss_kind()}, "
            f"window {r.windowing_for_step()}"
        )
    print(flush=True)
    rows = run_steps(args, folder, steps)
    for row in rows:
        print(_step_line(row))
    explain_doc = _explain(args, folder, rows, train_cases, test_cases)
    case_y = np.asarray(rows[-1]["case_y"], dtype=np.int64)
    intervals = ablation_intervals(case_y, rows, args.bootstrap, args.seed)
    total_s = time.perf_counter() - started

    print(f"\nFig. 3-style ablation on phantoms ({len(test_cases)} test cases; AUCs at case level):")
    print(format_table(rows))
    test_y = case_y.astype(bool)
    pos_neg = ", ".join(
        f"{label} {int(test_y[:, i].sum())}/{int((~test_y[:, i]).sum())}" for i, label in enumerate(LABELS)
    )
    print(f"test cases positive/negative: {pos_neg}")
    print(
        "val mAP: validation slice-level mAP of the bundle (model selection).\n"
        "test mAP: test slice-level mAP over the net's outputs; mAP 5sub: over the five subtypes only\n"
        "(comparable across M1..M4).\n"
        "AUC: case level (case = max over slices); n/a where the test set lacks positive or negative cases.\n"
        "sens/spec ANY: test cases at the bundle's validation operating point (case sensitivity >= "
        f"{RECIPES['lite'].target_sensitivity:g} on validation).\n"
        "* M1 has 5 outputs, no ANY: its ANY score is the max of the 5 subtype outputs, its val mAP is\n"
        "  over 5 outputs (M2-M4: 6, incl. ANY), and its ANY threshold is chosen the same way (validation)."
    )
    print("\n" + format_intervals(intervals, args.bootstrap))
    print("\n" + format_learning_curve(rows))
    if rows[-1]["table_iii"] is not None:
        print("\n" + format_table_iii(rows[-1]["step"], rows[-1]["table_iii"]))
    if explain_doc is not None:
        print("\n" + format_explain(explain_doc["step"], explain_doc))
    targets, _ = check_targets(_target_figures(rows, intervals, explain_doc, total_s))
    print(f"\n{targets}  [last step: {rows[-1]['step']}]")
    doc = {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "recipe": step_recipe(args, steps[-1]).to_dict(),
        "split": {"train": len(train_cases), "val": len(val_cases), "test": len(test_cases)},
        "rows": rows,
        "intervals": intervals,
        "data_seconds": data_s,
        "explain": explain_doc,
        "total_seconds": total_s,
    }
    json_path = args.out / f"ml_phantom-{options_tag(args)}.json"
    json_path.write_text(json.dumps(doc, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    over = " (over budget)" if total_s > args.budget_minutes * 60 else ""
    print(f"table: {json_path}")
    print(f"total wall time {total_s / 60:.1f} min (budget {args.budget_minutes:g} min){over}")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
