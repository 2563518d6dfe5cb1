"""Figures of merit of many readers at once, as means of per-case components (docs/mrmc.md, "Figures of
merit").

Each figure of merit of an ``(E, c)`` block of ratings (``E`` reader x treatment estimates on ``c`` cases) is
held as ``Components``: the ``E`` estimates and, for each group of cases, the ``(E, n_g)`` per-case
components whose mean is the estimate.

* Empirical AUC (Mann-Whitney, ties one half): two groups. The diseased cases' components are DeLong's
  placements ``V10_k`` (the fraction of non-diseased cases rated below diseased case ``k``, ties 1/2), the
  non-diseased cases' ``V01_l`` (the fraction of diseased cases rated above ``l``); both average to the AUC.
  They come from midranks as in ``ml.stats.auc_intervals._delong_placements`` (Sun & Xu 2014), here for all
  ``E`` rows in one sort.
* Sensitivity and specificity at a threshold (a call is positive when ``rating >= threshold``): one group,
  the diseased cases' calls (sensitivity) or the non-diseased cases' negative calls (specificity).

Because each estimate is a mean of components, deleting case ``k`` of a group of ``n_g`` cases gives
``theta_(k) = (n_g theta - v_k) / (n_g - 1)`` without re-sorting (``case_deleted``): the whole jackknife is
one array expression.

Part of ``ml.mrmc``; import the names from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ml.mrmc.design import CaseBlock
from ml.mrmc.readings import MRMCInputError
from ml.stats import bootstrap_aucs
from ml.stats._common import midranks

__all__ = [
    "FIGURES_OF_MERIT",
    "Components",
    "FigureOfMerit",
    "auc_components",
    "block_for",
    "bootstrap_estimates",
    "case_deleted",
    "components",
    "proportion_components",
    "rowwise_midranks",
]

FigureOfMerit = Literal["auc", "sensitivity", "specificity"]
FIGURES_OF_MERIT: tuple[str, ...] = ("auc", "sensitivity", "specificity")


@dataclass(frozen=True, eq=False)
class Components:
    """``E`` estimates as means of per-case components.

    Attributes:
        theta: ``(E,)`` the estimates.
        groups: per group of cases, ``(columns, values)``: the group's column indices in the block and the
            ``(E, n_g)`` components, each row averaging to ``theta``.
        n_cases: the number of cases in the block (the sum of the groups' sizes).
    """

    theta: NDArray[np.float64]
    groups: tuple[tuple[NDArray[np.intp], NDArray[np.float64]], ...] = field(repr=False)
    n_cases: int


def rowwise_midranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based midranks of each row of ``(E, m)`` values in one sort (``ml.stats._common.midranks`` per row).

    Each value is replaced by its dense rank among all values, offset by row so that every row's keys lie
    above the previous row's; the midranks of all keys together, less ``m`` per preceding row, are the
    midranks within each row.
    """
    rows, m = values.shape
    _, dense = np.unique(values.ravel(), return_inverse=True)
    offset = np.arange(rows, dtype=np.int64)[:, None]
    keys = dense.reshape(rows, m).astype(np.int64) + offset * (int(dense.max(initial=0)) + 1)
    ranks: NDArray[np.float64] = midranks(keys.ravel().astype(np.float64)).reshape(rows, m) - offset * m
    return ranks


def auc_components(truth: NDArray[np.bool_], ratings: NDArray[np.float64]) -> Components:
    """Empirical AUCs of the rows of ``ratings`` and their DeLong placements (module docstring).

    ``V10 = (R - R^D) / n_N`` and ``V01 = 1 - (R - R^N) / n_D`` with ``R`` the midranks among all of a row's
    ratings, ``R^D`` among its diseased cases' and ``R^N`` among its non-diseased cases'.

    Args:
        truth: ``(c,)`` True for a diseased case; both classes present.
        ratings: ``(E, c)`` ratings.

    Returns:
        ``Components`` with the AUCs (equal to ``sklearn.metrics.roc_auc_score`` per row) and two groups:
        the diseased cases' ``V10`` and the non-diseased cases' ``V01``.
    """
    pos_cols, neg_cols = np.flatnonzero(truth), np.flatnonzero(~truth)
    pos, neg = ratings[:, pos_cols], ratings[:, neg_cols]
    n_pos, n_neg = pos_cols.size, neg_cols.size
    ranks = rowwise_midranks(np.hstack([pos, neg]))
    v10 = (ranks[:, :n_pos] - rowwise_midranks(pos)) / n_neg
    v01 = 1.0 - (ranks[:, n_pos:] - rowwise_midranks(neg)) / n_pos
    return Components(v10.mean(axis=1), ((pos_cols, v10), (neg_cols, v01)), truth.size)


def proportion_components(values: NDArray[np.float64]) -> Components:
    """Proportions (e.g. sensitivity) of the rows of ``(E, n)`` 0/1 values: one group, the values."""
    return Components(values.mean(axis=1), ((np.arange(values.shape[1]), values),), values.shape[1])


def block_for(block: CaseBlock, fom: FigureOfMerit, threshold: float | None) -> CaseBlock:
    """The block a figure of merit is computed on: all cases for the AUC; for sensitivity the diseased
    cases with ratings turned into calls ``rating >= threshold`` (1/0); for specificity the non-diseased
    cases with ``rating < threshold`` (1: a correct negative call)."""
    if fom == "auc":
        return block
    if threshold is None:
        raise MRMCInputError(f"the {fom} needs a threshold: a rating at or above it is a positive call")
    sub = block.only(diseased=fom == "sensitivity")
    calls = sub.ratings >= threshold if fom == "sensitivity" else sub.ratings < threshold
    return CaseBlock(sub.treatment, sub.reader, sub.cases, sub.truth, calls.astype(np.float64))


def components(block: CaseBlock, fom: FigureOfMerit) -> Components:
    """The estimates and components of a block made by ``block_for``.

    Raises:
        MRMCInputError: fewer than two cases in a group (no case-deleted estimate or variance exists).
    """
    groups = [block.n_diseased, block.n_non_diseased] if fom == "auc" else [block.truth.size]
    if min(groups) < 2:
        raise MRMCInputError(
            f"the {fom} of a block of {block.truth.size} cases ({block.n_diseased} diseased) has a class "
            "with fewer than two cases; the covariances need at least two diseased and two non-diseased cases"
        )
    return (
        auc_components(block.truth, block.ratings) if fom == "auc" else proportion_components(block.ratings)
    )


def case_deleted(comp: Components) -> NDArray[np.float64]:
    """``(E, c)`` the estimates with each case left out in turn, in the block's case order:
    ``theta_(k) = (n_g theta - v_k) / (n_g - 1)`` for case ``k`` of group ``g``."""
    out = np.empty((comp.theta.size, comp.n_cases))
    for columns, values in comp.groups:
        n = columns.size
        out[:, columns] = (n * comp.theta[:, None] - values) / (n - 1)
    return out


def bootstrap_estimates(
    block: CaseBlock, fom: FigureOfMerit, indices: NDArray[np.intp], chunk_cells: int = 2**21
) -> NDArray[np.float64]:
    """``(B, E)`` the figure of merit of every estimate on each resample of the block's cases.

    Args:
        block: a block made by ``block_for``.
        fom: the figure of merit.
        indices: ``(B, c_b)`` case indices into the block, one resample per row (resampled within truth, so
            that each resample keeps both classes).
        chunk_cells: at most this many (resample, case) cells are processed at once.

    The AUCs are ``ml.stats.bootstrap_aucs`` per estimate; a proportion of resample ``b`` is
    ``sum_k w_bk v_k / n`` with ``w_bk`` the number of times case ``k`` is drawn.
    """
    n_rows, n = indices.shape
    rows = max(1, chunk_cells // max(n, 1))
    out = np.empty((n_rows, block.ratings.shape[0]))
    for start in range(0, n_rows, rows):
        idx = indices[start : start + rows]
        if fom == "auc":
            out[start : start + rows] = np.column_stack(
                [bootstrap_aucs(block.truth, s, idx) for s in block.ratings]
            )
        else:
            flat = (idx + n * np.arange(idx.shape[0])[:, None]).ravel()
            weights = np.bincount(flat, minlength=idx.size).reshape(idx.shape[0], n)
            out[start : start + rows] = weights @ block.ratings.T / n
    return out
