"""The statistics and tables of ``bench/ml_phantom.py``: paired bootstrap intervals of the ablation, the
learning curve, Lewicki's Table III comparison and the target check. ``ml`` and numpy only."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ml.labels import ANY, LABELS, SUBTYPES
from ml.stats import bootstrap_aucs, bootstrap_indices, roc_auc

#: The issue's targets for the last step (M4): (key, label, target, higher is better).
TARGETS: tuple[tuple[str, str, float, bool], ...] = (
    ("auc_any", "case-level AUC of ANY", 0.95, True),
    ("auc_subtypes", "mean case-level AUC of the five subtypes", 0.90, True),
    ("val_map", "slice-level validation mAP", 0.70, True),
    ("points_inside", "bleeding points inside the 20 % segmentation (%)", 80.0, True),
    ("area", "mean segmentation area (% of the head)", 15.0, False),
    ("minutes", "total wall time (min)", 15.0, False),
    ("test_cases", "test cases", 40, True),
)


def _percentiles(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)


def case_scores(case_probs: np.ndarray, label_order: Sequence[str]) -> dict[str, list[float]]:
    """Per test case: the ANY score (M1: the maximum of the subtypes) and each subtype's score."""
    order = list(label_order)
    subtypes = case_probs[:, [order.index(s) for s in SUBTYPES]]
    any_score = case_probs[:, order.index(ANY)] if ANY in order else subtypes.max(axis=1)
    return {ANY: any_score.tolist(), **{s: subtypes[:, i].tolist() for i, s in enumerate(SUBTYPES)}}


def _scored_subtypes(case_y: np.ndarray) -> list[str]:
    """The subtypes the test cases can score: with both positive and negative cases."""
    return [s for s in SUBTYPES if 0 < case_y[:, LABELS.index(s)].sum() < len(case_y)]


def _resampled(
    case_y: np.ndarray, scores: Mapping[str, Sequence[float]], indices: np.ndarray
) -> dict[str, np.ndarray]:
    """Per resample: the ANY AUC and the mean of the subtype AUCs (subtypes with both classes)."""
    any_col = LABELS.index(ANY)
    out = {"auc_any": bootstrap_aucs(case_y[:, any_col], np.asarray(scores[ANY]), indices)}
    per_subtype = [
        bootstrap_aucs(case_y[:, LABELS.index(s)], np.asarray(scores[s]), indices)
        for s in _scored_subtypes(case_y)
    ]
    stacked = np.vstack(per_subtype) if per_subtype else np.full((1, len(indices)), np.nan)
    with warnings.catch_warnings():  # a resample may miss every subtype's positives: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        out["auc_subtypes"] = np.nanmean(stacked, axis=0)
    return out


def point_estimates(case_y: np.ndarray, scores: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """The ANY AUC and the mean subtype AUC on the test cases themselves."""
    out = {"auc_any": roc_auc(case_y[:, LABELS.index(ANY)], np.asarray(scores[ANY]))}
    aucs = [roc_auc(case_y[:, LABELS.index(s)], np.asarray(scores[s])) for s in _scored_subtypes(case_y)]
    out["auc_subtypes"] = float(np.mean(aucs)) if aucs else math.nan
    return out


def ablation_intervals(
    case_y: np.ndarray, rows: Sequence[Mapping[str, Any]], n_resamples: int, seed: int
) -> list[dict[str, Any]]:
    """Paired bootstrap 95 % intervals per step: the AUCs and each step's difference to the previous one.

    Every step is scored on the same resamples of the test cases, so a difference's interval reflects the
    steps' disagreement, not the luck of the test set.
    """
    indices = bootstrap_indices(case_y[:, LABELS.index(ANY)], n_resamples, seed=seed)
    out, previous = [], None
    for row in rows:
        draws = _resampled(case_y, row["scores"], indices)
        point = point_estimates(case_y, row["scores"])
        item: dict[str, Any] = {"step": row["step"]}
        for key in ("auc_any", "auc_subtypes"):
            lo, hi = _percentiles(draws[key])
            item[key] = {"value": point[key], "lo": lo, "hi": hi}
            if previous is not None:
                d_lo, d_hi = _percentiles(draws[key] - previous[0][key])
                item[f"delta_{key}"] = {"value": point[key] - previous[1][key], "lo": d_lo, "hi": d_hi}
        out.append(item)
        previous = (draws, point)
    return out


def _ci(cell: Mapping[str, float] | None, signed: bool = False) -> str:
    if cell is None or not math.isfinite(cell["value"]):
        return "n/a"
    fmt = "{:+.3f}" if signed else "{:.3f}"
    return f"{fmt.format(cell['value'])} [{fmt.format(cell['lo'])}, {fmt.format(cell['hi'])}]"


def format_intervals(items: Sequence[Mapping[str, Any]], n_resamples: int) -> str:
    head = f"{'step':<5} {'AUC ANY [95% CI]':<26} {'vs previous':<28} {'mean subtype AUC':<26} vs previous"
    lines = [f"Paired bootstrap ({n_resamples} resamples of the test cases):", head, "-" * len(head)]
    for item in items:
        lines.append(
            f"{item['step']:<5} {_ci(item['auc_any']):<26} {_ci(item.get('delta_auc_any'), True):<28} "
            f"{_ci(item['auc_subtypes']):<26} {_ci(item.get('delta_auc_subtypes'), True)}"
        )
    lines.append("A difference whose interval contains 0 is not distinguishable from noise on this test set.")
    return "\n".join(lines)


def format_learning_curve(rows: Sequence[Mapping[str, Any]]) -> str:
    """Validation mAP and case AUC of ANY after each epoch, against cumulative training minutes."""
    lines = ["Learning curve (validation, after each epoch):", "step  epoch  minutes  val mAP  val AUC ANY"]
    for row in rows:
        minutes = 0.0
        for h in row.get("history", []):
            minutes += h["seconds"] / 60
            auc = h.get("val_auc_any")
            lines.append(
                f"{row['step']:<5} {h['epoch']:>5}  {minutes:7.1f}  {_num(h.get('val_map'))}  {_num(auc):>11}"
            )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "    n/a" if value is None or not math.isfinite(value) else f"{value:7.3f}"


def table_iii(slice_y: np.ndarray, slice_p: np.ndarray, label_order: Sequence[str]) -> dict[str, Any]:
    """Lewicki's Table III comparison on test slices: the learned ANY vs the OR of the subtype outputs.

    At ``p >= 0.5`` per output: recall and precision of ANY by the learned output and by "some subtype
    output >= 0.5"; the AUCs of the learned ANY and of the maximum subtype probability; the exact-match
    accuracy (all outputs right). ``slice_y``/``slice_p`` are ``(N, C)`` in ``label_order``.
    """
    order = list(label_order)
    y_any = slice_y[:, order.index(ANY)].astype(bool)
    sub = [order.index(s) for s in SUBTYPES]
    learned = slice_p[:, order.index(ANY)]
    union = slice_p[:, sub].max(axis=1)

    def rates(score: np.ndarray) -> dict[str, float]:
        called = score >= 0.5
        tp = float((called & y_any).sum())
        return {
            "recall": tp / y_any.sum() if y_any.any() else math.nan,
            "precision": tp / called.sum() if called.any() else math.nan,
            "auc": roc_auc(y_any.astype(np.int64), score),
        }

    exact = ((slice_p >= 0.5) == slice_y.astype(bool)).all(axis=1)
    return {
        "learned_any": rates(learned),
        "or_of_subtypes": rates(union),
        "exact_match": float(exact.mean()),
        "n_slices": len(slice_y),
        "n_positive": int(y_any.sum()),
    }


def format_table_iii(step: str, doc: Mapping[str, Any]) -> str:
    a, b = doc["learned_any"], doc["or_of_subtypes"]
    return "\n".join(
        [
            f"Lewicki's Table III on the {step} bundle ({doc['n_slices']} test slices, {doc['n_positive']} "
            "with ICH; p >= 0.5):",
            "                       recall  precision    AUC",
            f"  learned ANY output  {_num(a['recall'])}  {_num(a['precision'])}  {_num(a['auc'])}",
            f"  OR of 5 subtypes    {_num(b['recall'])}  {_num(b['precision'])}  {_num(b['auc'])}",
            f"  recall gain of the learned output: {100 * (a['recall'] - b['recall']):+.1f} points "
            "[paper B: +2.5]",
            f"  exact-match accuracy (all outputs right): {100 * doc['exact_match']:.1f} % [paper B: 93.3 %]",
        ]
    )


def check_targets(figures: Mapping[str, float | None]) -> tuple[str, bool]:
    """PASS / MISS per target with the gap; True when every target with a figure passes."""
    lines, ok = ["Targets:"], True
    for key, label, target, higher in TARGETS:
        value = figures.get(key)
        if value is None or not math.isfinite(float(value)):
            lines.append(f"  n/a   {label}: no figure (target {'>=' if higher else '<='} {target:g})")
            continue
        passed = value >= target if higher else value <= target
        ok &= passed
        gap = "" if passed else f", short by {abs(float(value) - target):.3g}"
        lines.append(
            f"  {'PASS' if passed else 'MISS'}  {label}: {float(value):.3g} "
            f"(target {'>=' if higher else '<='} {target:g}{gap})"
        )
    return "\n".join(lines), ok
