"""The one statistics module of ICHweb (docs/science.md, "Statistics" and "Operating points").

Every dashboard, benchmark and training loop computes its metrics here, so a number means the same thing
everywhere. All functions are vectorised numpy and take binary labels (0/1 or bool) and real scores; a score
counts as positive at threshold ``t`` when ``score >= t`` (as in ``sklearn.metrics.roc_curve``).

* Ranking: ``average_precision`` and ``mean_average_precision`` (the paper's model-selection mAP),
  ``roc_auc`` (Mann-Whitney), ``roc_curve``, ``pr_curve`` (sklearn's points exactly).
* AUC uncertainty: ``bootstrap_auc_ci`` (the paper's 2,000 case-level resamples, percentile interval),
  ``delong_ci`` and the paired ``delong_test`` (DeLong 1988 by Sun & Xu's midrank algorithm; pROC's numbers).
* Operating points: ``proportion_ci`` (Wald as in the paper's table, or Wilson), ``operating_point``,
  ``threshold_for_sensitivity`` (the paper's high-sensitivity point), ``precision_threshold_table`` and
  ``thresholds_for_min_precision`` (Lewicki's fixed-minimum-precision point).
* Reader agreement: ``cohen_kappa`` with its large-sample SE, ``fleiss_kappa``, ``percent_agreement``,
  ``pairwise_agreement_matrix``, ``pairwise_kappa_matrix``.

Undefined values: an AUC (and its intervals) without both classes, or a proportion of nothing, is NaN; a
curve or threshold that cannot exist raises ``ValueError``. A kappa whose raters all used one single category
is 0/0: NaN, with an ``UndefinedKappaWarning`` (as scikit-learn and statsmodels warn).

Example::

    >>> average_precision([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.4])
    0.8333333333333333
    >>> roc_auc([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.4])
    0.875
    >>> proportion_ci(98, 100)  # the paper's retrospective sensitivity, 98.0 % (95.3-100)
    (0.98, 0.9525605042164392, 1.0)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "AucInterval",
    "Confusion",
    "DelongInterval",
    "DelongTest",
    "Kappa",
    "PrecisionOperatingPoints",
    "PrecisionThresholdTable",
    "ProportionEstimate",
    "UndefinedKappaWarning",
    "agreement_table",
    "average_precision",
    "binary_inputs",
    "bootstrap_auc_ci",
    "bootstrap_aucs",
    "bootstrap_indices",
    "cohen_kappa",
    "cohen_kappa_from_table",
    "confusion",
    "delong_ci",
    "delong_test",
    "fleiss_kappa",
    "mean_average_precision",
    "mean_pairwise_agreement",
    "operating_point",
    "pairwise_agreement_matrix",
    "pairwise_kappa_matrix",
    "per_class_average_precision",
    "percent_agreement",
    "pr_curve",
    "precision_threshold_table",
    "precision_threshold_tables",
    "proportion_ci",
    "ratings_to_counts",
    "roc_auc",
    "roc_curve",
    "sensitivity_specificity",
    "threshold_for_sensitivity",
    "thresholds_for_min_precision",
    "thresholds_for_sensitivity",
]

# Bootstrap resamples are processed in chunks of at most this many (resample, case) cells (16 MiB per array).
BOOTSTRAP_CHUNK_CELLS = 2**21


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


def _per_class(y_true: ArrayLike, scores: ArrayLike) -> tuple[NDArray[Any], NDArray[np.float64]]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"y_true and scores must both be (N, C), got {y.shape} and {s.shape}")
    return y, s


def _z(level: float) -> float:
    """The two-sided normal quantile ``z = Phi^-1(1 - (1 - level) / 2)`` (1.959964 for 95 %)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(1 - (1 - level) / 2)


def _midranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks of ``x``, tied values sharing the average of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]


# --- Ranking metrics and curves -------------------------------------------------------------------------


def _descending_counts(
    y: NDArray[np.bool_], s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Distinct scores from high to low with the true and false positives at each, ``score >= t``."""
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    # The last index of each run of equal scores: one point per distinct threshold, ties entering together.
    last = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    tp = np.cumsum(y[order])[last]
    return s_sorted[last], tp, last + 1 - tp


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
    _, tp, fp = _descending_counts(y, s)
    precision = tp / (tp + fp)
    recall_gain = np.diff(tp, prepend=0) / n_pos
    return float(np.sum(recall_gain * precision))


def per_class_average_precision(y_true: ArrayLike, scores: ArrayLike) -> NDArray[np.float64]:
    """``average_precision`` of every column of ``(N, C)`` arrays; NaN for a column without positives."""
    y, s = _per_class(y_true, scores)
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
    rank_sum = _midranks(s)[y].sum()
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
    thresholds, tp, fp = _descending_counts(y, s)
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
    thresholds, tp, fp = _descending_counts(y, s)
    return np.r_[(tp / (tp + fp))[::-1], 1.0], np.r_[(tp / n_pos)[::-1], 0.0], thresholds[::-1]


# --- AUC confidence intervals -----------------------------------------------------------------------------


class AucInterval(NamedTuple):
    """An AUC and its confidence interval."""

    auc: float
    lo: float
    hi: float


class DelongInterval(NamedTuple):
    """An AUC, its DeLong interval and standard error."""

    auc: float
    lo: float
    hi: float
    se: float


class DelongTest(NamedTuple):
    """DeLong's paired test: z statistic, two-sided p-value and the two AUCs."""

    z: float
    p: float
    auc1: float
    auc2: float


def _draw_indices(
    rng: np.random.Generator, y: NDArray[np.bool_], n_rows: int, stratified: bool
) -> NDArray[np.intp]:
    n = y.size
    if not stratified:
        return rng.integers(0, n, size=(n_rows, n))
    # Column j draws among the cases of case j's class, in one draw whose columns have their own bounds,
    # so that the stream does not depend on how the rows are chunked.
    n_pos = int(y.sum())
    members = np.r_[np.flatnonzero(y), np.flatnonzero(~y)]
    high = np.where(y, n_pos, n - n_pos)
    offset = np.where(y, 0, n_pos)
    return members[offset + rng.integers(0, high, size=(n_rows, n))]


def bootstrap_indices(
    y_true: ArrayLike, n_resamples: int = 2000, seed: int = 0, stratified: bool = False
) -> NDArray[np.intp]:
    """The case indices of the bootstrap resamples that ``bootstrap_auc_ci`` draws with the same arguments.

    Row ``b`` is resample ``b``: ``N`` case indices drawn uniformly with replacement from all cases by
    ``np.random.default_rng(seed)``; with ``stratified=True`` column ``j`` is drawn among the cases of case
    ``j``'s class, keeping the numbers of positives and negatives (pROC's ``boot.stratified=TRUE``).

    Returns:
        ``(n_resamples, N)`` indices into ``y_true``.
    """
    y = np.asarray(y_true)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be 1-D binary (0/1)")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    return _draw_indices(np.random.default_rng(seed), y.astype(bool), n_resamples, stratified)


def bootstrap_aucs(y_true: ArrayLike, scores: ArrayLike, indices: ArrayLike) -> NDArray[np.float64]:
    """The AUC of every bootstrap resample at once, from case weights (all resamples in one pass).

    Resample ``b`` takes case ``i`` ``w_bi`` times. With the scores grouped by distinct value ``v`` (low to
    high), ``P_bv`` and ``N_bv`` the resampled positives and negatives at ``v``:
    ``AUC_b = sum_v P_bv (sum_{u<v} N_bu + N_bv / 2) / (n_P,b n_N,b)`` -- the Mann-Whitney AUC of the
    resample, ties counting one half, as ``roc_auc(y[idx_b], s[idx_b])``.

    Args:
        y_true: ``(N,)`` 0/1 labels.
        scores: ``(N,)`` scores.
        indices: ``(B, M)`` case indices, one resample per row (see ``bootstrap_indices``).

    Returns:
        ``(B,)`` AUCs; NaN for a resample without both classes.
    """
    y, s = binary_inputs(y_true, scores)
    idx = np.asarray(indices)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be a (B, M) integer array, got {idx.shape} {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= y.size):
        raise ValueError(f"indices must lie in [0, {y.size})")
    n, n_rows = y.size, idx.shape[0]
    order = np.argsort(s, kind="stable")
    rank = np.empty(n, dtype=np.intp)
    rank[order] = np.arange(n)
    s_sorted = s[order]
    weights = np.bincount((rank[idx] + n * np.arange(n_rows)[:, None]).ravel(), minlength=n_rows * n)
    weights = weights.reshape(n_rows, n)
    pos = np.where(y[order], weights, 0)
    neg = weights - pos
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    if starts.size < n:
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    twice_wins = (pos * (2 * (np.cumsum(neg, axis=1) - neg) + neg)).sum(axis=1)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        aucs = twice_wins / (2.0 * n_pos * n_neg)
    aucs[(n_pos == 0) | (n_neg == 0)] = np.nan
    return aucs


def bootstrap_auc_ci(
    y_true: ArrayLike,
    scores: ArrayLike,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    stratified: bool = False,
) -> AucInterval:
    """AUC with its non-parametric bootstrap percentile interval (docs/science.md, "Statistics").

    The paper's rule: ``n_resamples`` case-level resamples with replacement, the AUC of each
    (``bootstrap_aucs``), and the ``(1 - level) / 2`` and ``1 - (1 - level) / 2`` quantiles of those AUCs
    (linear interpolation, R's and pROC's default ``quantile`` type 7). Resamples that miss a class have no
    AUC and are left out, as pROC does ("NA value(s) produced during bootstrap were ignored").

    ``stratified=False`` (the paper's, and this project's default) resamples all cases together;
    ``stratified=True`` keeps the numbers of positives and negatives, like pROC's ``ci.auc(method=
    "bootstrap")`` whose ``boot.stratified`` defaults to TRUE. Deterministic for a given ``seed``; the
    resamples are ``bootstrap_indices(y_true, n_resamples, seed, stratified)``, processed in chunks of at
    most ``BOOTSTRAP_CHUNK_CELLS`` cells.

    Returns:
        ``(auc, lo, hi)``: the AUC of the data and the interval; all NaN when a class is absent.
    """
    y, s = binary_inputs(y_true, scores)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    _z(level)  # checks the level
    auc = roc_auc(y, s)
    if math.isnan(auc):
        return AucInterval(auc, np.nan, np.nan)
    rng = np.random.default_rng(seed)
    rows = max(1, BOOTSTRAP_CHUNK_CELLS // y.size)
    aucs = np.concatenate(
        [
            bootstrap_aucs(y, s, _draw_indices(rng, y, min(rows, n_resamples - start), stratified))
            for start in range(0, n_resamples, rows)
        ]
    )
    lo, hi = _percentile_interval(aucs, level)
    return AucInterval(auc, lo, hi)


def _percentile_interval(values: NDArray[np.float64], level: float) -> tuple[float, float]:
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return np.nan, np.nan
    lo, hi = np.quantile(defined, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _delong_placements(
    y: NDArray[np.bool_], s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """DeLong's structural components by Sun & Xu's midranks (IEEE Signal Process. Lett. 21, 2014).

    With ``R`` the midranks of all scores, ``R^P`` of the positives' among themselves and ``R^N`` of the
    negatives': ``V10_i = (R_i - R^P_i) / n_N`` (the fraction of negatives below positive ``i``, ties 1/2)
    and ``V01_j = 1 - (R_j - R^N_j) / n_P`` (the fraction of positives above negative ``j``). Both average
    to the AUC.
    """
    pos, neg = s[y], s[~y]
    ranks = _midranks(np.r_[pos, neg])
    v10 = (ranks[: pos.size] - _midranks(pos)) / neg.size
    v01 = 1.0 - (ranks[pos.size :] - _midranks(neg)) / pos.size
    return v10, v01


def delong_ci(y_true: ArrayLike, scores: ArrayLike, level: float = 0.95) -> DelongInterval:
    """AUC with DeLong's asymptotic interval (DeLong, DeLong & Clarke-Pearson, Biometrics 44, 1988).

    ``Var(AUC) = S10 / n_P + S01 / n_N`` with ``S10``, ``S01`` the sample variances (``n - 1``) of the
    structural components (``_delong_placements``); the interval is ``AUC +/- z se`` clipped to [0, 1],
    as pROC's ``ci.auc(method="delong")``.

    Returns:
        ``(auc, lo, hi, se)``; the AUC is NaN when a class is absent, and the rest NaN with fewer than two
        cases of a class.
    """
    y, s = binary_inputs(y_true, scores)
    z = _z(level)
    auc = roc_auc(y, s)
    n_pos = int(y.sum())
    if min(n_pos, y.size - n_pos) < 2:
        return DelongInterval(auc, np.nan, np.nan, np.nan)
    v10, v01 = _delong_placements(y, s)
    se = math.sqrt(v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size)
    return DelongInterval(auc, max(0.0, auc - z * se), min(1.0, auc + z * se), se)


def delong_test(y_true: ArrayLike, scores1: ArrayLike, scores2: ArrayLike) -> DelongTest:
    """DeLong's paired test of two models' AUCs on the same cases (pROC ``roc.test(paired=TRUE)``).

    ``z = (AUC1 - AUC2) / sqrt(Var(D10) / n_P + Var(D01) / n_N)`` where ``D10 = V10(1) - V10(2)`` and
    ``D01 = V01(1) - V01(2)`` are the differences of the structural components -- the same as
    ``L S L'`` with ``L = (1, -1)`` and ``S`` DeLong's covariance matrix. Two-sided ``p = 2 (1 - Phi(|z|))``.
    Equal AUCs with a zero variance (e.g. the same ranking) give ``z = 0, p = 1``, as pROC.

    Returns:
        ``(z, p, auc1, auc2)``; ``z`` and ``p`` NaN with fewer than two cases of a class.
    """
    y, s1 = binary_inputs(y_true, scores1)
    _, s2 = binary_inputs(y_true, scores2)
    auc1, auc2 = roc_auc(y, s1), roc_auc(y, s2)
    n_pos = int(y.sum())
    if min(n_pos, y.size - n_pos) < 2:
        return DelongTest(np.nan, np.nan, auc1, auc2)
    (a10, a01), (b10, b01) = _delong_placements(y, s1), _delong_placements(y, s2)
    d10, d01 = a10 - b10, a01 - b01
    se = math.sqrt(d10.var(ddof=1) / d10.size + d01.var(ddof=1) / d01.size)
    diff = float(d10.mean())
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    return DelongTest(z, math.erfc(abs(z) / math.sqrt(2)), auc1, auc2)


# --- Proportions and operating points --------------------------------------------------------------------


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
    z = _z(level)
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
    thresholds, tp, _ = _descending_counts(y, s)
    # TPR is a fraction of integer counts; allow for its rounding when target is such a fraction.
    return float(thresholds[int(np.argmax(tp / n_pos >= target - 1e-12))])


def thresholds_for_sensitivity(
    y_true: ArrayLike, scores: ArrayLike, target: float = 0.95
) -> NDArray[np.float64]:
    """``threshold_for_sensitivity`` per class of ``(N, C)`` arrays; NaN for a class without positives."""
    y, s = _per_class(y_true, scores)
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
    y, s = _per_class(y_true, scores)
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


# --- Reader agreement (docs/science.md, "Prediction basis" and "Reader studies") -------------------------


class UndefinedKappaWarning(RuntimeWarning):
    """A kappa is 0/0, returned as NaN: only one category was used, by every rater for every subject.

    Chance agreement ``p_e`` is then 1, so ``(p_o - p_e) / (1 - p_e)`` has no value (agreement is perfect,
    but there was nothing to disagree about). scikit-learn's ``cohen_kappa_score`` returns NaN with an
    ``UndefinedMetricWarning`` (a ``UserWarning``) in this case, and statsmodels' ``cohens_kappa`` and
    ``fleiss_kappa`` return NaN with numpy's ``RuntimeWarning`` "invalid value encountered in scalar divide";
    this is a ``RuntimeWarning`` too, so one filter silences it and numpy's, and callers that show NaN as
    "no value" can ignore it by class: ``warnings.simplefilter("ignore", UndefinedKappaWarning)``.
    """


def _warn_undefined(what: str, stacklevel: int) -> None:
    warnings.warn(
        f"{what} is undefined (0/0, returned as NaN): only one category was used by all raters, for every "
        "subject, so chance agreement p_e is 1",
        UndefinedKappaWarning,
        stacklevel=stacklevel + 1,
    )


class Kappa(NamedTuple):
    """Cohen's kappa with its large-sample SE and interval, the agreements it compares and the subjects."""

    kappa: float
    se: float
    lo: float
    hi: float
    p_observed: float
    p_expected: float
    n: int


def _encode(values: NDArray[Any], labels: ArrayLike | None) -> tuple[NDArray[np.intp], int]:
    """Category codes ``0..K-1`` of ``values``: the sorted distinct values, or the order of ``labels``."""
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise ValueError("missing ratings (NaN) are not supported")
    if labels is None:
        categories, codes = np.unique(values, return_inverse=True)
        return codes.reshape(values.shape), categories.size
    cats = np.asarray(labels)
    if cats.ndim != 1 or np.unique(cats).size != cats.size:
        raise ValueError("labels must be 1-D and distinct")
    sorter = np.argsort(cats)
    found = sorter[np.clip(np.searchsorted(cats, values, sorter=sorter), 0, cats.size - 1)]
    if not (cats[found] == values).all():
        raise ValueError("every rating must be one of labels")
    return found, cats.size


def agreement_table(a: ArrayLike, b: ArrayLike, labels: ArrayLike | None = None) -> NDArray[np.int64]:
    """``(K, K)`` counts of rater A's category (rows) against rater B's (columns) over the same subjects."""
    first, second = np.asarray(a), np.asarray(b)
    if first.ndim != 1 or first.shape != second.shape or first.size == 0:
        raise ValueError(
            f"a and b must be non-empty, 1-D and of one length, got {first.shape}, {second.shape}"
        )
    codes, k = _encode(np.stack([first, second], axis=1), labels)
    return np.bincount(codes[:, 0] * k + codes[:, 1], minlength=k * k).reshape(k, k)


def cohen_kappa_from_table(table: ArrayLike, level: float = 0.95) -> Kappa:
    """Cohen's kappa of a ``(K, K)`` agreement table with the large-sample SE of Fleiss, Cohen & Everitt.

    ``p_ij = n_ij / n``, row and column margins ``p_i.`` and ``p_.j``; ``p_o = sum_i p_ii``,
    ``p_e = sum_i p_i. p_.i``, ``kappa = (p_o - p_e) / (1 - p_e)`` (Cohen 1960). Variance (Fleiss, Cohen &
    Everitt, Psychol. Bull. 72, 1969):
    ``[sum_i p_ii (1 - (p_i. + p_.i)(1 - kappa))^2 + (1 - kappa)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
    - (kappa - p_e (1 - kappa))^2] / (n (1 - p_e)^2)``; interval ``kappa +/- z se`` (not clipped), as
    ``statsmodels.stats.inter_rater.cohens_kappa``.

    Returns:
        ``Kappa(kappa, se, lo, hi, p_observed, p_expected, n)``. When both raters used one single, same
        category (``p_e = 1``) kappa is 0/0: kappa, se and the interval are NaN and an
        ``UndefinedKappaWarning`` is issued (scikit-learn's ``cohen_kappa_score`` also returns NaN, with its
        ``UndefinedMetricWarning``). Raters who each used a different single category have ``p_e = 0`` and
        kappa 0, no warning (as scikit-learn).
    """
    return _cohen_kappa_from_table(table, level, stacklevel=2)


def _cohen_kappa_from_table(table: ArrayLike, level: float, stacklevel: int) -> Kappa:
    counts = np.asarray(table, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or (counts < 0).any():
        raise ValueError(f"table must be a square (K, K) array of counts, got {counts.shape}")
    n = counts.sum()
    if n <= 0:
        raise ValueError("table has no subjects")
    z = _z(level)
    p = counts / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    p_o, p_e = float(np.trace(p)), float(rows @ cols)
    if p_e >= 1:
        _warn_undefined("Cohen's kappa", stacklevel + 1)
        return Kappa(np.nan, np.nan, np.nan, np.nan, p_o, p_e, int(n))
    kappa = (p_o - p_e) / (1 - p_e)
    term_a = np.sum(np.diag(p) * (1 - (rows + cols) * (1 - kappa)) ** 2)
    off = p * (cols[:, None] + rows[None, :]) ** 2
    term_b = (1 - kappa) ** 2 * (off.sum() - np.trace(off))
    term_c = (kappa - p_e * (1 - kappa)) ** 2
    se = math.sqrt(max(0.0, float(term_a + term_b - term_c)) / (n * (1 - p_e) ** 2))
    return Kappa(kappa, se, kappa - z * se, kappa + z * se, p_o, p_e, int(n))


def cohen_kappa(a: ArrayLike, b: ArrayLike, labels: ArrayLike | None = None, level: float = 0.95) -> Kappa:
    """Cohen's kappa of two raters over the same subjects (``cohen_kappa_from_table`` of their table).

    Args:
        a, b: ``(n,)`` categories given by each rater (any comparable values: ints, strings).
        labels: the categories; default the distinct values rated. Unused labels change nothing.
        level: the interval's confidence level.

    Returns:
        As ``cohen_kappa_from_table``: NaN kappa, with an ``UndefinedKappaWarning``, when both raters gave
        every subject the same single category.
    """
    return _cohen_kappa_from_table(agreement_table(a, b, labels), level, stacklevel=2)


def ratings_to_counts(ratings: ArrayLike, labels: ArrayLike | None = None) -> NDArray[np.int64]:
    """``(n_subjects, n_raters)`` ratings to ``(n_subjects, K)`` counts of raters per category."""
    r = np.asarray(ratings)
    if r.ndim != 2 or r.size == 0:
        raise ValueError(f"ratings must be a non-empty (n_subjects, n_raters) array, got {r.shape}")
    codes, k = _encode(r, labels)
    rows = np.repeat(np.arange(r.shape[0]), r.shape[1])
    return np.bincount(rows * k + codes.ravel(), minlength=r.shape[0] * k).reshape(r.shape[0], k)


def fleiss_kappa(data: ArrayLike, layout: Literal["counts", "ratings"] = "counts") -> float:
    """Fleiss' kappa of many raters (Fleiss, Psychol. Bull. 76, 1971).

    With ``n_ij`` raters putting subject ``i`` in category ``j``, ``m`` raters per subject and ``N`` subjects:
    ``P_i = (sum_j n_ij^2 - m) / (m (m - 1))``, ``p_j = sum_i n_ij / (N m)``,
    ``kappa = (mean_i P_i - sum_j p_j^2) / (1 - sum_j p_j^2)``, as ``statsmodels``' ``fleiss_kappa``.

    Args:
        data: ``layout="counts"``: ``(N, K)`` counts per subject and category, every row summing to the same
            ``m >= 2``; ``layout="ratings"``: ``(N, m)`` one category per subject and rater.

    Returns:
        kappa. When every rating is the same category (``sum_j p_j^2 = 1``) kappa is 0/0: NaN, with an
        ``UndefinedKappaWarning`` (statsmodels' ``fleiss_kappa`` returns NaN with numpy's RuntimeWarning).
    """
    if layout == "ratings":
        counts = ratings_to_counts(data).astype(np.float64)
    elif layout == "counts":
        counts = np.asarray(data, dtype=np.float64)
    else:
        raise ValueError(f"layout must be 'counts' or 'ratings', got {layout!r}")
    if counts.ndim != 2 or counts.shape[0] == 0 or (counts < 0).any():
        raise ValueError(f"counts must be a non-empty (N, K) array of counts, got {counts.shape}")
    m = counts.sum(axis=1)
    if (m != m[0]).any() or m[0] < 2:
        raise ValueError("every subject needs the same number of raters, at least two")
    p_i = ((counts**2).sum(axis=1) - m) / (m * (m - 1))
    p_j = counts.sum(axis=0) / counts.sum()
    p_e = float(np.sum(p_j**2))
    if p_e >= 1:
        _warn_undefined("Fleiss' kappa", stacklevel=2)
        return float("nan")
    return float((p_i.mean() - p_e) / (1 - p_e))


def percent_agreement(a: ArrayLike, b: ArrayLike) -> float:
    """The fraction of subjects that two raters put in the same category."""
    table = agreement_table(a, b)
    return float(np.trace(table) / table.sum())


def _one_hot_ratings(ratings: ArrayLike, labels: ArrayLike | None) -> NDArray[np.float64]:
    r = np.asarray(ratings)
    if r.ndim != 2 or r.shape[0] == 0 or r.shape[1] < 2:
        raise ValueError(f"ratings must be (n_subjects >= 1, n_raters >= 2), got {r.shape}")
    codes, k = _encode(r, labels)
    return (codes[:, :, None] == np.arange(k)).astype(np.float64)


def pairwise_agreement_matrix(ratings: ArrayLike) -> NDArray[np.float64]:
    """``(R, R)`` percent agreement of every pair of raters: ``A_rs = mean_i [x_ir == x_is]``."""
    one_hot = _one_hot_ratings(ratings, None)
    return np.einsum("irk,isk->rs", one_hot, one_hot) / one_hot.shape[0]


def mean_pairwise_agreement(ratings: ArrayLike) -> float:
    """The mean over the ``R (R - 1) / 2`` pairs of raters of their percent agreement."""
    agreement = pairwise_agreement_matrix(ratings)
    return float(agreement[np.triu_indices_from(agreement, k=1)].mean())


def pairwise_kappa_matrix(ratings: ArrayLike, labels: ArrayLike | None = None) -> NDArray[np.float64]:
    """``(R, R)`` Cohen's kappa of every pair of raters over the same subjects, all pairs at once.

    ``kappa_rs = (p_o,rs - p_e,rs) / (1 - p_e,rs)`` with ``p_o,rs`` the pair's agreement and
    ``p_e,rs = sum_k q_rk q_sk`` (``q_rk`` the fraction of subjects rater ``r`` puts in category ``k``): the
    kappa of ``cohen_kappa(ratings[:, r], ratings[:, s])``. NaN where ``p_e = 1`` (both raters of the pair
    used one single, same category), with one ``UndefinedKappaWarning`` for the matrix.
    """
    one_hot = _one_hot_ratings(ratings, labels)
    observed = np.einsum("irk,isk->rs", one_hot, one_hot) / one_hot.shape[0]
    margins = one_hot.mean(axis=0)
    expected = margins @ margins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (observed - expected) / (1 - expected)
    undefined = expected >= 1
    if undefined.any():
        _warn_undefined(
            f"Cohen's kappa in {int(undefined.sum())} of the {undefined.size} rater-pair entries", 2
        )
    kappa[undefined] = np.nan
    return kappa
