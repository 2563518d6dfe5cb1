"""Binomial proportions with Wald and Wilson intervals, and 2 x 2 confusion counts (docs/science.md,
"Statistics").

Part of ``ml.stats``; import the names from there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml.stats._common import binary_inputs, normal_quantile

__all__ = ["Confusion", "ProportionEstimate", "confusion", "proportion_ci", "sensitivity_specificity"]


@overload
def proportion_ci(
    k: int | np.integer[Any],
    n: int | np.integer[Any],
    method: Literal["wald", "wilson"] = ...,
    level: float = ...,
) -> tuple[float, float, float]: ...
@overload
def proportion_ci(
    k: NDArray[Any] | Sequence[int],
    n: NDArray[Any] | Sequence[int] | int,
    method: Literal["wald", "wilson"] = ...,
    level: float = ...,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]: ...
def proportion_ci(
    k: Any, n: Any, method: Literal["wald", "wilson"] = "wald", level: float = 0.95
) -> tuple[Any, Any, Any]:
    """A binomial proportion ``p = k / n`` with its interval (docs/science.md, "Statistics").

    * ``"wald"`` (the paper's table): ``p +/- z sqrt(p (1 - p) / n)``, clipped to [0, 1].
    * ``"wilson"``: ``(p + z^2 / 2n +/- z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)``.

    Both as ``statsmodels.stats.proportion.proportion_confint`` ("normal", "wilson"). Vectorised: arrays of
    ``k`` and ``n`` broadcast; scalars give floats.

    Returns:
        ``(p, lo, hi)``; NaN where ``n == 0``.

    Raises:
        ValueError: counts that are not integers with ``0 <= k <= n``, or an unknown method.
    """
    kk, nn = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64))
    if not (np.isfinite(kk).all() and (kk == np.round(kk)).all() and (nn == np.round(nn)).all()):
        raise ValueError("k and n must be integer counts")
    if ((kk < 0) | (kk > nn)).any():
        raise ValueError("counts must satisfy 0 <= k <= n")
    z = normal_quantile(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = kk / nn
        if method == "wald":
            half = z * np.sqrt(p * (1 - p) / nn)
            lo, hi = p - half, p + half
        elif method == "wilson":
            denominator = 1 + z**2 / nn
            centre = (p + z**2 / (2 * nn)) / denominator
            half = z * np.sqrt(p * (1 - p) / nn + z**2 / (4 * nn**2)) / denominator
            lo, hi = centre - half, centre + half
        else:
            raise ValueError(f"method must be 'wald' or 'wilson', got {method!r}")
    # Wilson's bounds are exactly 0 at k = 0 and 1 at k = n; set them so, free of rounding.
    lo = np.where((kk == 0) & (nn > 0), 0.0, np.clip(lo, 0, 1))
    hi = np.where((kk == nn) & (nn > 0), 1.0, np.clip(hi, 0, 1))
    if p.ndim == 0:
        return float(p), float(lo), float(hi)
    return p, lo, hi


class Confusion(NamedTuple):
    """Counts of a binary classification: true/false positives, true/false negatives."""

    tp: int
    fp: int
    tn: int
    fn: int


def confusion(y_true: ArrayLike, y_pred: ArrayLike) -> Confusion:
    """The 2 x 2 counts of binary labels against binary predictions."""
    y, pred = binary_inputs(y_true, y_pred)
    if not np.isin(pred, (0, 1)).all():
        raise ValueError("y_pred must be binary (0/1)")
    predicted = pred.astype(bool)
    tp = int((y & predicted).sum())
    fp = int(predicted.sum()) - tp
    fn = int(y.sum()) - tp
    return Confusion(tp, fp, y.size - tp - fp - fn, fn)


def sensitivity_specificity(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[float, float]:
    """``TP / (TP + FN)`` and ``TN / (TN + FP)`` of binary predictions; NaN where the class is absent."""
    c = confusion(y_true, y_pred)
    return float(proportion_ci(c.tp, c.tp + c.fn)[0]), float(proportion_ci(c.tn, c.tn + c.fp)[0])


class ProportionEstimate(NamedTuple):
    """``p = k / n`` with its Wald and Wilson intervals."""

    k: int
    n: int
    p: float
    wald_lo: float
    wald_hi: float
    wilson_lo: float
    wilson_hi: float
