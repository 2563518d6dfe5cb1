"""Ranking metrics and curves: AP, mAP, ROC AUC, ROC and PR curves (docs/science.md, "Statistics").

Part of ``ml.stats``; import the names from there."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml.stats._common import binary_inputs, descending_counts, midranks, per_class_inputs

__all__ = [
    "average_precision",
    "mean_average_precision",
    "per_class_average_precision",
    "pr_curve",
    "roc_auc",
    "roc_curve",
]


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the precision-recall curve, step-wise (sklearn's definition; docs/science.md, "Training and
    model selection").

    ``AP = sum_n (R_n - R_{n-1}) P_n``: thresholds are the distinct scores from high to low; tied scores
    enter together, as one threshold.

    Args:
        y_true: ``(N,)`` 0/1 labels.
        scores: ``(N,)`` scores, higher meaning more likely positive.

    Returns:
        AP in [0, 1], or NaN when there is no positive label (undefined; sklearn warns and returns 0).
    """
    y, s = binary_inputs(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    _, tp, fp = descending_counts(y, s)
    precision = tp / (tp + fp)
    recall_gain = np.diff(tp, prepend=0) / n_pos
    return float(np.sum(recall_gain * precision))


def per_class_average_precision(y_true: ArrayLike, scores: ArrayLike) -> NDArray[np.float64]:
    """``average_precision`` of every column of ``(N, C)`` arrays; NaN for a column without positives."""
    y, s = per_class_inputs(y_true, scores)
    return np.array([average_precision(y[:, c], s[:, c]) for c in range(y.shape[1])], dtype=np.float64)


def mean_average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """The paper's model-selection metric mAP: mean AP over the outputs (docs/science.md, "Training and
    model selection").

    Columns without a positive label have no AP and are left out of the mean.

    Args:
        y_true: ``(N, C)`` 0/1 labels, one column per output.
        scores: ``(N, C)`` scores.

    Returns:
        mAP in [0, 1], or NaN when no column has a positive label.
    """
    ap = per_class_average_precision(y_true, scores)
    defined = ap[~np.isnan(ap)]
    return float(defined.mean()) if defined.size else float("nan")


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic (docs/science.md, "Statistics").

    ``AUC = (sum of the positives' ranks - n_P (n_P + 1) / 2) / (n_P n_N)`` with tied scores given their
    average rank: the probability that a random positive scores above a random negative, ties counting
    one half. Equal to the trapezoidal area under ``sklearn.metrics.roc_curve``.

    Returns:
        AUC in [0, 1], or NaN when either class is absent.
    """
    y, s = binary_inputs(y_true, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = midranks(s)[y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(
    y_true: ArrayLike, scores: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The ROC curve at every distinct score: ``FPR(t) = FP(t) / N_neg``, ``TPR(t) = TP(t) / N_pos``.

    The points of ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``: thresholds from high to low,
    starting at ``+inf`` (the point (0, 0)).

    Returns:
        ``(fpr, tpr, thresholds)``, each of length 1 + the number of distinct scores.

    Raises:
        ValueError: a class is absent (one of the rates is undefined).
    """
    y, s = binary_inputs(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ValueError("the ROC curve needs both positive and negative labels")
    thresholds, tp, fp = descending_counts(y, s)
    return np.r_[0, fp] / (y.size - n_pos), np.r_[0, tp] / n_pos, np.r_[np.inf, thresholds]


def pr_curve(
    y_true: ArrayLike, scores: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The precision-recall curve at every distinct score: ``P(t) = TP / (TP + FP)``, ``R(t) = TP / N_pos``.

    The points of ``sklearn.metrics.precision_recall_curve``: thresholds from low to high, and a last point
    (precision 1, recall 0) with no threshold.

    Returns:
        ``(precision, recall, thresholds)``; the first two are one longer than ``thresholds``.

    Raises:
        ValueError: no positive label (recall is undefined).
    """
    y, s = binary_inputs(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("the precision-recall curve needs a positive label")
    thresholds, tp, fp = descending_counts(y, s)
    return np.r_[(tp / (tp + fp))[::-1], 1.0], np.r_[(tp / n_pos)[::-1], 0.0], thresholds[::-1]
