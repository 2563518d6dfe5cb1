"""The covariance of the reader x treatment estimates over cases, and OR's averages of it (docs/mrmc.md,
"Covariance of the estimates").

Three estimators of ``Cov(theta_ij, theta_i'j')`` under case sampling, for the ``E`` estimates of one
block of cases (``block_covariance``):

* ``jackknife``: ``(c - 1) / c sum_k (theta_(k) - theta_(.)) (theta_(k) - theta_(.))'`` over the ``c``
  case-deleted estimates (``ml.mrmc.fom.case_deleted``) -- Obuchowski & Rockette's (1995) choice and the
  default.
* ``delong``: DeLong's structural components, ``sum_g Cov(V_g) / n_g`` (sample covariances, ``n_g - 1``) over
  the groups of cases (diseased and non-diseased for the AUC).
* ``bootstrap``: the sample covariance of the estimates over ``n_boot`` resamples of the cases, drawn with
  replacement within the diseased and the non-diseased cases (``ml.stats.bootstrap_indices`` with
  ``stratified=True``), seeded.

Estimates on different blocks share no case, so their covariance is 0 (``full_covariance``). OR reduce the
``(t r) x (t r)`` matrix to four numbers (``or_covariances``): ``Var`` (the diagonal), ``Cov1`` (same
reader, different treatments), ``Cov2`` (different readers, same treatment) and ``Cov3`` (different readers,
different treatments), each the mean over its pairs.

Part of ``ml.mrmc``; import the names from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ml.mrmc.design import CaseBlock
from ml.mrmc.fom import FigureOfMerit, block_for, bootstrap_estimates, case_deleted, components
from ml.mrmc.readings import MRMCInputError
from ml.stats import bootstrap_indices

__all__ = [
    "COVARIANCE_METHODS",
    "CovarianceMethod",
    "Estimates",
    "ORCovariances",
    "block_covariance",
    "estimates",
    "full_covariance",
    "or_covariances",
]

CovarianceMethod = Literal["jackknife", "delong", "bootstrap"]
COVARIANCE_METHODS: tuple[str, ...] = ("jackknife", "delong", "bootstrap")


@dataclass(frozen=True)
class ORCovariances:
    """OR's error variance and covariances (means over the pairs of each kind; 0 where there is no pair)."""

    var: float
    cov1: float
    cov2: float
    cov3: float


@dataclass(frozen=True, eq=False)
class Estimates:
    """The figure of merit of every (treatment, reader) and the covariance of those estimates.

    Attributes:
        theta: ``(t, r)`` the estimates.
        covariance: ``(t r, t r)`` their covariance over cases, index ``i r + j`` for treatment ``i``,
            reader ``j``.
        n_cases: the cases behind the analysis (those the figure of merit uses: all, or one class).
    """

    theta: NDArray[np.float64]
    covariance: NDArray[np.float64]
    n_cases: int


def block_covariance(
    block: CaseBlock, fom: FigureOfMerit, method: CovarianceMethod, n_boot: int = 2000, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The estimates of one block and their ``(E, E)`` covariance by ``method`` (module docstring).

    Args:
        block: a block made by ``ml.mrmc.fom.block_for``.
        fom: the figure of merit.
        method: ``jackknife``, ``delong`` or ``bootstrap``.
        n_boot: bootstrap resamples.
        seed: seed of the bootstrap resamples.

    Returns:
        ``(theta, covariance)``: ``(E,)`` and ``(E, E)``.

    Raises:
        MRMCInputError: an unknown method, fewer than two bootstrap resamples, or a class with fewer than
            two cases.
    """
    comp = components(block, fom)
    if method == "jackknife":
        deleted = case_deleted(comp)
        centred = deleted - deleted.mean(axis=1, keepdims=True)
        c = comp.n_cases
        return comp.theta, (c - 1) / c * (centred @ centred.T)
    if method == "delong":
        return comp.theta, sum(_sample_cov(values) / values.shape[1] for _, values in comp.groups)
    if method == "bootstrap":
        if n_boot < 2:
            raise MRMCInputError(f"--n-boot must be at least 2 for a bootstrap covariance, got {n_boot}")
        indices = bootstrap_indices(block.truth.astype(np.int8), n_boot, seed=seed, stratified=True)
        return comp.theta, _sample_cov(bootstrap_estimates(block, fom, indices).T)
    raise MRMCInputError(
        f"unknown covariance method {method!r}; choose one of {', '.join(COVARIANCE_METHODS)}"
    )


def _sample_cov(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """Covariance of the rows (variables) over the columns (observations), ``n - 1`` denominator."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    cov: NDArray[np.float64] = centred @ centred.T / (rows.shape[1] - 1)
    return cov


def full_covariance(
    blocks: list[CaseBlock], shape: tuple[int, int], covariances: list[NDArray[np.float64]]
) -> NDArray[np.float64]:
    """The ``(t r, t r)`` covariance from each block's own: zero between estimates of different blocks."""
    t, r = shape
    full = np.zeros((t * r, t * r))
    for block, cov in zip(blocks, covariances, strict=True):
        flat = block.treatment * r + block.reader
        full[np.ix_(flat, flat)] = cov
    return full


def estimates(
    blocks: list[CaseBlock],
    shape: tuple[int, int],
    fom: FigureOfMerit = "auc",
    method: CovarianceMethod = "jackknife",
    *,
    threshold: float | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Estimates:
    """The figure of merit of every (treatment, reader) of the blocks and its covariance by ``method``.

    Block ``b`` draws its bootstrap resamples with seed ``seed + b`` (one block, one seed, in a crossed
    design).

    Raises:
        MRMCInputError: see ``block_covariance``; a sensitivity or specificity without threshold.
    """
    t, r = shape
    theta = np.full(t * r, np.nan)
    covs, fom_blocks = [], [block_for(b, fom, threshold) for b in blocks]
    for number, block in enumerate(fom_blocks):
        est, cov = block_covariance(block, fom, method, n_boot=n_boot, seed=seed + number)
        theta[block.treatment * r + block.reader] = est
        covs.append(cov)
    n_cases = sum(block.truth.size for block in fom_blocks)
    return Estimates(theta.reshape(t, r), full_covariance(fom_blocks, shape, covs), n_cases)


def or_covariances(covariance: NDArray[np.float64], shape: tuple[int, int]) -> ORCovariances:
    """OR's ``Var``, ``Cov1``, ``Cov2``, ``Cov3``: the means of the ``(t r, t r)`` covariance over the pairs
    (same or different treatment) x (same or different reader); 0 for a kind without pairs (Cov2 and Cov3
    with one reader, Cov1 and Cov3 with one treatment)."""
    t, r = shape
    cov = covariance.reshape(t, r, t, r)
    same_t = np.eye(t, dtype=bool)[:, None, :, None]
    same_r = np.eye(r, dtype=bool)[None, :, None, :]

    def mean(mask: NDArray[np.bool_]) -> float:
        mask = np.broadcast_to(mask, cov.shape)
        return float(cov[mask].mean()) if mask.any() else 0.0

    return ORCovariances(
        var=mean(same_t & same_r),
        cov1=mean(~same_t & same_r),
        cov2=mean(same_t & ~same_r),
        cov3=mean(~same_t & ~same_r),
    )
