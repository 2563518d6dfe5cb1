"""AUC confidence intervals: the case bootstrap and DeLong's interval and paired test (docs/science.md,
"Statistics").

Part of ``ml.stats``; import the names from there."""

from __future__ import annotations

import math
from typing import NamedTuple, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml.stats._common import binary_inputs, midranks, normal_quantile
from ml.stats.ranking import roc_auc

__all__ = [
    "AucInterval",
    "DelongInterval",
    "DelongTest",
    "bootstrap_auc_ci",
    "bootstrap_aucs",
    "bootstrap_indices",
    "delong_ci",
    "delong_test",
]

# Bootstrap resamples are processed in chunks of at most this many (resample, case) cells (16 MiB per array).
BOOTSTRAP_CHUNK_CELLS = 2**21


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
    return cast(NDArray[np.intp], members[offset + rng.integers(0, high, size=(n_rows, n))])


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
        aucs: NDArray[np.float64] = twice_wins / (2.0 * n_pos * n_neg)
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
    normal_quantile(level)  # checks the level
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
    ranks = midranks(np.r_[pos, neg])
    v10 = (ranks[: pos.size] - midranks(pos)) / neg.size
    v01 = 1.0 - (ranks[pos.size :] - midranks(neg)) / pos.size
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
    z = normal_quantile(level)
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
