"""Operating points: rates at a threshold, the high-sensitivity threshold and the minimum-precision
threshold tables (docs/science.md, "Operating points").

Part of ``ml.stats``; import the names from there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml.stats._common import binary_inputs, descending_counts, per_class_inputs
from ml.stats.proportions import ProportionEstimate, confusion, proportion_ci

__all__ = [
    "PrecisionOperatingPoints",
    "PrecisionThresholdTable",
    "operating_point",
    "precision_threshold_table",
    "precision_threshold_tables",
    "threshold_for_sensitivity",
    "thresholds_for_min_precision",
    "thresholds_for_sensitivity",
]


def operating_point(
    y_true: ArrayLike, scores: ArrayLike, threshold: float, level: float = 0.95
) -> dict[str, ProportionEstimate]:
    """Sensitivity, specificity, PPV, NPV and accuracy at ``score >= threshold``, each with both intervals.

    ``sensitivity = TP/(TP+FN)``, ``specificity = TN/(TN+FP)``, ``ppv = TP/(TP+FP)``, ``npv = TN/(TN+FN)``,
    ``accuracy = (TP+TN)/N``; intervals by ``proportion_ci`` (Wald, the paper's, and Wilson).

    Returns:
        ``{"sensitivity", "specificity", "ppv", "npv", "accuracy"} -> ProportionEstimate(k, n, p, wald_lo,
        wald_hi, wilson_lo, wilson_hi)``; NaN where ``n == 0``.
    """
    y, s = binary_inputs(y_true, scores)
    c = confusion(y, s >= threshold)
    counts = {
        "sensitivity": (c.tp, c.tp + c.fn),
        "specificity": (c.tn, c.tn + c.fp),
        "ppv": (c.tp, c.tp + c.fp),
        "npv": (c.tn, c.tn + c.fn),
        "accuracy": (c.tp + c.tn, y.size),
    }
    k, n = (np.array(v) for v in zip(*counts.values(), strict=True))
    p, wald_lo, wald_hi = proportion_ci(k, n, "wald", level)
    _, wilson_lo, wilson_hi = proportion_ci(k, n, "wilson", level)
    columns = zip(k, n, p, wald_lo, wald_hi, wilson_lo, wilson_hi, strict=True)
    return {
        name: ProportionEstimate(int(a), int(b), *(float(v) for v in rest))
        for name, (a, b, *rest) in zip(counts, columns, strict=True)
    }


def threshold_for_sensitivity(y_true: ArrayLike, scores: ArrayLike, target: float = 0.95) -> float:
    """The highest threshold whose sensitivity is at least ``target`` (docs/science.md, "Operating points").

    The paper's "high-sensitivity point chosen on the validation set" (on case-level scores, the maximum
    over a case's slices): among all thresholds ``t`` with ``TPR(score >= t) >= target``, the highest, hence
    the best specificity. It is always one of the scores.

    Args:
        y_true: ``(N,)`` 0/1 validation labels (at least one positive).
        scores: ``(N,)`` scores.
        target: sensitivity to reach, in (0, 1].

    Raises:
        ValueError: no positive label, or target outside (0, 1].
    """
    y, s = binary_inputs(y_true, scores)
    if not 0 < target <= 1:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("sensitivity is undefined without a positive label")
    thresholds, tp, _ = descending_counts(y, s)
    # TPR is a fraction of integer counts; allow for its rounding when target is such a fraction.
    return float(thresholds[int(np.argmax(tp / n_pos >= target - 1e-12))])


def thresholds_for_sensitivity(
    y_true: ArrayLike, scores: ArrayLike, target: float = 0.95
) -> NDArray[np.float64]:
    """``threshold_for_sensitivity`` per class of ``(N, C)`` arrays; NaN for a class without positives."""
    y, s = per_class_inputs(y_true, scores)
    return np.array(
        [
            threshold_for_sensitivity(y[:, c], s[:, c], target) if y[:, c].any() else np.nan
            for c in range(y.shape[1])
        ]
    )


@dataclass(frozen=True)
class PrecisionThresholdTable:
    """Precision, recall and accuracy per threshold, and the fixed-minimum-precision choice (paper B).

    See docs/science.md, "Operating points".

    Attributes:
        thresholds: ``(T,)`` from low to high.
        precision: ``(T,)`` ``TP / (TP + FP)``; NaN where nothing is called positive.
        recall: ``(T,)`` ``TP / N_pos``; NaN without a positive label.
        accuracy: ``(T,)`` ``(TP + TN) / N``.
        min_precision: the precision floor.
        chosen: the row of highest recall with ``precision >= min_precision`` (ties to the higher
            threshold), or None where no row reaches the floor or there is no positive label.
    """

    thresholds: NDArray[np.float64]
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    min_precision: float
    chosen: int | None

    @property
    def threshold(self) -> float:
        """The chosen threshold, NaN when none reaches the floor."""
        return float("nan") if self.chosen is None else float(self.thresholds[self.chosen])

    def rows(self) -> list[dict[str, float]]:
        """The table as rows of plain floats, for a dashboard."""
        names = ("threshold", "precision", "recall", "accuracy")
        columns = (self.thresholds, self.precision, self.recall, self.accuracy)
        return [dict(zip(names, map(float, row), strict=True)) for row in zip(*columns, strict=True)]


def precision_threshold_table(
    y_true: ArrayLike, scores: ArrayLike, min_precision: float = 0.7, thresholds: ArrayLike | None = None
) -> PrecisionThresholdTable:
    """Lewicki's per-threshold table and "fixed minimum precision" operating point (docs/science.md,
    "Operating points").

    At each threshold ``t``: ``precision = TP/(TP+FP)``, ``recall = TP/N_pos``, ``accuracy = (TP+TN)/N``
    with ``score >= t``. The chosen row keeps ``precision >= min_precision`` with the highest recall, the
    highest threshold among equal recalls (fewest false positives); Lewicki et al. report precision >= 0.7.

    Args:
        y_true: ``(N,)`` 0/1 labels.
        scores: ``(N,)`` scores.
        min_precision: the precision floor in [0, 1].
        thresholds: the rows' thresholds; default every distinct score (where the choice is exact).
    """
    y, s = binary_inputs(y_true, scores)
    if not 0 <= min_precision <= 1:
        raise ValueError(f"min_precision must be in [0, 1], got {min_precision}")
    t = np.unique(s) if thresholds is None else np.sort(np.asarray(thresholds, dtype=np.float64).ravel())
    positives, negatives = np.sort(s[y]), np.sort(s[~y])
    tp = positives.size - np.searchsorted(positives, t, side="left")
    fp = negatives.size - np.searchsorted(negatives, t, side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / positives.size
    accuracy = (tp + negatives.size - fp) / y.size
    ok = np.flatnonzero(precision >= min_precision) if positives.size else np.array([], dtype=np.intp)
    chosen = None
    if ok.size:
        # Rows run from low to high threshold: the last row of the best recall is its highest threshold.
        chosen = int(ok[np.flatnonzero(recall[ok] == recall[ok].max())[-1]])
    return PrecisionThresholdTable(t, precision, recall, accuracy, min_precision, chosen)


def precision_threshold_tables(
    y_true: ArrayLike, scores: ArrayLike, min_precision: float = 0.7, thresholds: ArrayLike | None = None
) -> list[PrecisionThresholdTable]:
    """``precision_threshold_table`` of every class of ``(N, C)`` arrays."""
    y, s = per_class_inputs(y_true, scores)
    return [precision_threshold_table(y[:, c], s[:, c], min_precision, thresholds) for c in range(y.shape[1])]


@dataclass(frozen=True)
class PrecisionOperatingPoints:
    """Per-class operating points at a minimum precision (Lewicki et al.; docs/science.md, "Operating
    points").

    Attributes:
        thresholds: ``(C,)`` the chosen threshold, NaN where ``reached`` is False.
        precision: ``(C,)`` precision at that threshold (NaN when not reached).
        recall: ``(C,)`` recall at that threshold (NaN when not reached).
        reached: ``(C,)`` False where no threshold gives precision >= the minimum (or the class has no
            positive label): the caller must pick another rule for that class.
    """

    thresholds: NDArray[np.float64]
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    reached: NDArray[np.bool_]


def thresholds_for_min_precision(
    y_true: ArrayLike, scores: ArrayLike, min_precision: float = 0.7
) -> PrecisionOperatingPoints:
    """Per class, the chosen row of ``precision_threshold_table`` (highest recall at precision >= floor).

    Lewicki et al.'s "fixed minimum precision" operating point (paper B: precision >= 0.7 raised mean
    recall to 0.875). Where no threshold reaches the precision, or the class has no positive label, the class
    is reported with ``reached=False`` and NaN.
    """
    tables = precision_threshold_tables(y_true, scores, min_precision)

    def at_choice(column: str) -> NDArray[np.float64]:
        return np.array([np.nan if t.chosen is None else getattr(t, column)[t.chosen] for t in tables])

    thresholds = at_choice("thresholds")
    return PrecisionOperatingPoints(
        thresholds, at_choice("precision"), at_choice("recall"), ~np.isnan(thresholds)
    )
