"""The one statistics module of ICHweb: the ranking metrics of SCIENCE.md A ("Model", "Headline results").

Every dashboard, benchmark and training loop computes its metrics here, so a number means the same thing
everywhere. All functions are vectorised numpy and take binary labels (0/1 or bool) and real scores; a score
counts as positive at threshold ``t`` when ``score >= t``.

* ``average_precision``: area under the precision-recall curve, step-wise, exactly as
  ``sklearn.metrics.average_precision_score``: ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct scores
  taken as thresholds from high to low (no interpolation of precision).
* ``mean_average_precision``: the paper's model-selection metric "mAP", the mean of AP over the outputs
  that have at least one positive.
* ``roc_auc``: area under the ROC curve as the Mann-Whitney statistic, ties counted one half.

Example::

    >>> average_precision([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.4])
    0.8333333333333333
    >>> roc_auc([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.4])
    0.875
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "average_precision",
    "binary_inputs",
    "mean_average_precision",
    "per_class_average_precision",
    "roc_auc",
]


def binary_inputs(y_true: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Check one class's labels (0/1) and finite scores, both 1-D of one length; labels as booleans."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"y_true and scores must be 1-D of one length, got {y.shape} and {s.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be binary (0/1)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y.astype(bool), s


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the precision-recall curve, step-wise (SCIENCE.md A, "mAP"; sklearn's definition).

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
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # The last index of each run of equal scores: one point of the curve per distinct threshold.
    last = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    tp = np.cumsum(y_sorted)[last]
    precision = tp / (last + 1)
    recall_gain = np.diff(tp, prepend=0) / n_pos
    return float(np.sum(recall_gain * precision))


def per_class_average_precision(y_true: ArrayLike, scores: ArrayLike) -> NDArray[np.float64]:
    """``average_precision`` of every column of ``(N, C)`` arrays; NaN for a column without positives."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"y_true and scores must both be (N, C), got {y.shape} and {s.shape}")
    return np.array([average_precision(y[:, c], s[:, c]) for c in range(y.shape[1])], dtype=np.float64)


def mean_average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """The paper's model-selection metric mAP: mean AP over the outputs (SCIENCE.md A, "Model").

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
    """Area under the ROC curve as the Mann-Whitney U statistic (SCIENCE.md A, "AUC").

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
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # 1-based rank of each distinct value, averaged over its ties.
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = average_rank[inverse][y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
