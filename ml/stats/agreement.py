"""Reader agreement: Cohen's kappa with its SE, Fleiss' kappa, percent and pairwise agreement
(docs/science.md, "Prediction basis" and "Reader studies").

Part of ``ml.stats``; import the names from there."""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal, NamedTuple, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml.stats._common import normal_quantile

__all__ = [
    "Kappa",
    "UndefinedKappaWarning",
    "agreement_table",
    "cohen_kappa",
    "cohen_kappa_from_table",
    "fleiss_kappa",
    "mean_pairwise_agreement",
    "pairwise_agreement_matrix",
    "pairwise_kappa_matrix",
    "percent_agreement",
    "ratings_to_counts",
]


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
    z = normal_quantile(level)
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
    return cast(NDArray[np.float64], (codes[:, :, None] == np.arange(k)).astype(np.float64))


def pairwise_agreement_matrix(ratings: ArrayLike) -> NDArray[np.float64]:
    """``(R, R)`` percent agreement of every pair of raters: ``A_rs = mean_i [x_ir == x_is]``."""
    one_hot = _one_hot_ratings(ratings, None)
    return cast(NDArray[np.float64], np.einsum("irk,isk->rs", one_hot, one_hot) / one_hot.shape[0])


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
    observed: NDArray[np.float64] = np.einsum("irk,isk->rs", one_hot, one_hot) / one_hot.shape[0]
    margins: NDArray[np.float64] = one_hot.mean(axis=0)
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
