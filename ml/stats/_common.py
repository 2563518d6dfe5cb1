"""Input checks and helpers shared by the statistics modules of ``ml.stats``."""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["binary_inputs", "descending_counts", "midranks", "normal_quantile", "per_class_inputs"]


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


def per_class_inputs(y_true: ArrayLike, scores: ArrayLike) -> tuple[NDArray[Any], NDArray[np.float64]]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"y_true and scores must both be (N, C), got {y.shape} and {s.shape}")
    return y, s


def normal_quantile(level: float) -> float:
    """The two-sided normal quantile ``z = Phi^-1(1 - (1 - level) / 2)`` (1.959964 for 95 %)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(1 - (1 - level) / 2)


def midranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks of ``x``, tied values sharing the average of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]


def descending_counts(
    y: NDArray[np.bool_], s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Distinct scores from high to low with the true and false positives at each, ``score >= t``."""
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    # The last index of each run of equal scores: one point per distinct threshold, ties entering together.
    last = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    # Cumulative counts of a boolean array are numpy's default integer: int64 on 64-bit platforms.
    tp = cast(NDArray[np.int64], np.cumsum(y[order])[last])
    return s_sorted[last], tp, cast(NDArray[np.int64], last + 1 - tp)
