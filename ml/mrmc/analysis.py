"""The Obuchowski-Rockette (OR) analysis of a reader study: do the treatments' mean figures of merit differ?
(docs/mrmc.md, "The OR model" to "Fixed or random").

OR (1995) model the reader x treatment estimates ``theta_ij`` (AUCs by default) as a two-way ANOVA,
treatment by reader, whose errors are correlated through the cases; the covariances ``Var, Cov1, Cov2,
Cov3`` (``ml.mrmc.covariance``) correct the ANOVA's mean squares:

* random readers and random cases (Hillis 2007, 2008): ``F = MS(T) / (MS(T:R) + r max(Cov2 - Cov3, 0))``
  on ``t - 1`` and Hillis's ``ddf = (MS(T:R) + r max(Cov2 - Cov3, 0))^2 / (MS(T:R)^2 / ((t - 1)(r - 1)))``;
* fixed readers, random cases (OR 1995; Hillis 2014):
  ``chi2 = (t - 1) MS(T) / (Var - Cov1 + (r - 1) max(Cov2 - Cov3, 0))`` on ``t - 1``;
* random readers, fixed cases: the conventional ANOVA, ``F = MS(T) / MS(T:R)`` on ``t - 1`` and
  ``(t - 1)(r - 1)``.

Every pairwise difference ``A - B`` of the treatments' means (in the order of the table) gets a confidence
interval and p-value from the same error term and degrees of freedom, and every treatment its own interval
(single-treatment OR: ``MS(R)_i`` and ``Cov2_i``).

Example::

    >>> from ml.mrmc import read_readings
    >>> result = or_analysis(read_readings("tests/data/vandyke-mrmc.csv"))
    >>> round(result.global_test.value, 3), round(result.global_test.df2, 2)
    (4.456, 15.26)

Part of ``ml.mrmc``; import the names from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ml.mrmc._dist import chi2_sf, f_sf, t_quantile, two_sided_p
from ml.mrmc.covariance import (
    COVARIANCE_METHODS,
    CovarianceMethod,
    Estimates,
    estimates,
    or_covariances,
)
from ml.mrmc.design import Design, case_blocks
from ml.mrmc.fom import FIGURES_OF_MERIT, FigureOfMerit
from ml.mrmc.readings import MRMCInputError, Readings

__all__ = [
    "Difference",
    "Effect",
    "GlobalTest",
    "ModalityEstimate",
    "ORResult",
    "Settings",
    "VarianceComponents",
    "check_settings",
    "mean_squares",
    "or_analysis",
]

Effect = Literal["random", "fixed"]


def _number(value: float | None) -> float | None:
    """A float for JSON: None for None and infinity (an infinite df is the normal limit)."""
    return None if value is None or math.isinf(value) else float(value)


@dataclass(frozen=True)
class VarianceComponents:
    """The OR mean squares and covariances. ``ms_r`` and ``ms_tr`` are None with one reader (no df)."""

    ms_t: float
    ms_r: float | None
    ms_tr: float | None
    var: float
    cov1: float
    cov2: float
    cov3: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "MS(T)": self.ms_t,
            "MS(R)": self.ms_r,
            "MS(T:R)": self.ms_tr,
            "Var": self.var,
            "Cov1": self.cov1,
            "Cov2": self.cov2,
            "Cov3": self.cov3,
        }


@dataclass(frozen=True)
class GlobalTest:
    """The test of equal treatment means: ``statistic`` "F" (df1, df2) or "chi2" (df1; df2 None)."""

    statistic: Literal["F", "chi2"]
    value: float
    df1: int
    df2: float | None
    p_value: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            self.statistic: self.value,
            "df1": self.df1,
            "df2": _number(self.df2),
            "p_value": self.p_value,
        }


@dataclass(frozen=True)
class Difference:
    """One pairwise difference of treatment means, ``comparison`` = "A - B" (estimate A minus B).

    ``df`` None: the interval and p-value are normal (fixed readers)."""

    comparison: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    df: float | None
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "comparison": self.comparison,
            "estimate": self.estimate,
            "se": self.se,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "df": _number(self.df),
            "p_value": self.p_value,
        }


@dataclass(frozen=True)
class ModalityEstimate:
    """One treatment's mean figure of merit over the readers with its interval (``df`` None: normal)."""

    treatment: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    df: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "treatment": self.treatment,
            "auc": self.estimate,
            "se": self.se,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "df": _number(self.df),
        }


@dataclass(frozen=True)
class Settings:
    """How an analysis was run (echoed in reports and JSON)."""

    fom: FigureOfMerit
    covariance: CovarianceMethod
    readers: Effect
    cases: Effect
    design: Design
    level: float
    n_cases: int
    n_boot: int | None = None
    seed: int | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure_of_merit": self.fom,
            "covariance": self.covariance,
            "readers": self.readers,
            "cases": self.cases,
            "design": self.design,
            "level": self.level,
            "n_cases": self.n_cases,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "threshold": self.threshold,
        }


@dataclass(frozen=True, eq=False)
class ORResult:
    """The result of ``or_analysis``.

    Attributes:
        treatments, readers: the labels, in the order of the table.
        theta: ``(t, r)`` the figure of merit of each treatment and reader.
        global_test: the test of equal treatment means.
        differences: every pairwise difference, "A - B" for A before B in the table.
        components: the OR mean squares and covariances.
        modalities: each treatment's mean with its interval.
        settings: how the analysis was run.
        covariance: ``(t r, t r)`` the covariance of ``theta.ravel()`` over cases.
    """

    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    theta: NDArray[np.float64] = field(repr=False)
    global_test: GlobalTest
    differences: tuple[Difference, ...]
    components: VarianceComponents
    modalities: tuple[ModalityEstimate, ...]
    settings: Settings
    covariance: NDArray[np.float64] = field(repr=False)

    @property
    def means(self) -> NDArray[np.float64]:
        """``(t,)`` each treatment's mean over the readers."""
        means: NDArray[np.float64] = self.theta.mean(axis=1)
        return means

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: aucs (per reader, then each treatment's mean with reader None), global,
        differences, variance_components, modalities, settings."""
        aucs: list[dict[str, Any]] = [
            {"reader": reader, "treatment": treatment, "auc": float(self.theta[i, j])}
            for i, treatment in enumerate(self.treatments)
            for j, reader in enumerate(self.readers)
        ]
        aucs += [
            {"reader": None, "treatment": t, "auc": float(m)}
            for t, m in zip(self.treatments, self.means, strict=True)
        ]
        return {
            "aucs": aucs,
            "global": self.global_test.to_dict(),
            "differences": [d.to_dict() for d in self.differences],
            "variance_components": self.components.to_dict(),
            "modalities": [m.to_dict() for m in self.modalities],
            "settings": self.settings.to_dict(),
            "treatments": list(self.treatments),
            "readers": list(self.readers),
        }


def check_settings(covariance: str, readers: str, cases: str, fom: str, level: float) -> None:
    """Refuse settings no analysis has.

    Raises:
        MRMCInputError: an unknown covariance method, effect or figure of merit; fixed readers and fixed
            cases together (nothing random to generalise over); a level outside (0, 1).
    """
    if covariance not in COVARIANCE_METHODS:
        raise MRMCInputError(
            f"unknown covariance {covariance!r}; choose one of {', '.join(COVARIANCE_METHODS)}"
        )
    for name, value in (("readers", readers), ("cases", cases)):
        if value not in ("random", "fixed"):
            raise MRMCInputError(f"{name} must be 'random' or 'fixed', got {value!r}")
    if readers == cases == "fixed":
        raise MRMCInputError(
            "readers and cases are both fixed: there is nothing to test; make one of them random"
        )
    if fom not in FIGURES_OF_MERIT:
        raise MRMCInputError(f"unknown figure of merit {fom!r}; choose one of {', '.join(FIGURES_OF_MERIT)}")
    if not 0 < level < 1:
        raise MRMCInputError(f"the confidence level must lie in (0, 1), got {level}")


def mean_squares(theta: NDArray[np.float64]) -> tuple[float, float | None, float | None]:
    """``MS(T)``, ``MS(R)``, ``MS(T:R)`` of the ``(t, r)`` estimates (two-way ANOVA, one value per cell).

    ``MS(T) = r / (t - 1) sum_i (m_i. - m..)^2``, ``MS(R) = t / (r - 1) sum_j (m_.j - m..)^2``,
    ``MS(T:R) = sum_ij (theta_ij - m_i. - m_.j + m..)^2 / ((t - 1)(r - 1))``; with one treatment MS(T) is 0,
    with one reader MS(R) and MS(T:R) are None.
    """
    t, r = theta.shape
    by_t, by_r, grand = theta.mean(axis=1), theta.mean(axis=0), theta.mean()
    ms_t = r * float(((by_t - grand) ** 2).sum()) / (t - 1) if t > 1 else 0.0
    if r == 1:
        return ms_t, None, None
    ms_r = t * float(((by_r - grand) ** 2).sum()) / (r - 1)
    interaction = theta - by_t[:, None] - by_r[None, :] + grand
    ms_tr = float((interaction**2).sum()) / ((t - 1) * (r - 1)) if t > 1 else 0.0
    return ms_t, ms_r, ms_tr


@dataclass(frozen=True)
class _ErrorTerm:
    """The denominator of a test: the variance of a treatment mean difference is ``2 value / r``."""

    value: float
    df: float | None  # None: normal / chi-square


def _error_term(vc: VarianceComponents, t: int, r: int, readers: Effect, cases: Effect) -> _ErrorTerm:
    """The error term and its df for the reader/case effects (module docstring)."""
    shared = max(vc.cov2 - vc.cov3, 0.0)
    if readers == "fixed":
        value, df = vc.var - vc.cov1 + (r - 1) * shared, None
        what = "Var - Cov1 + (r - 1) max(Cov2 - Cov3, 0)"
    elif cases == "fixed":
        value, df, what = float(vc.ms_tr or 0.0), float((t - 1) * (r - 1)), "MS(T:R)"
    else:
        ms_tr = float(vc.ms_tr or 0.0)
        value = ms_tr + r * shared
        df = value**2 / (ms_tr**2 / ((t - 1) * (r - 1))) if ms_tr > 0 else math.inf
        what = "MS(T:R) + r max(Cov2 - Cov3, 0)"
    if not value > 0:
        raise MRMCInputError(
            f"the error term {what} is {value:.3g}: the estimates do not vary between readers or cases, so "
            "the test is undefined; check the ratings (are all readers' ratings identical or perfect?)"
        )
    return _ErrorTerm(value, df)


def _global_test(vc: VarianceComponents, t: int, term: _ErrorTerm) -> GlobalTest:
    if term.df is None:
        chi2 = (t - 1) * vc.ms_t / term.value
        return GlobalTest("chi2", chi2, t - 1, None, chi2_sf(chi2, t - 1))
    f = vc.ms_t / term.value
    return GlobalTest("F", f, t - 1, term.df, f_sf(f, t - 1, term.df))


def _interval(estimate: float, se: float, df: float | None, level: float) -> tuple[float, float]:
    half = t_quantile(1 - (1 - level) / 2, df) * se
    return estimate - half, estimate + half


def _differences(
    treatments: tuple[str, ...], means: NDArray[np.float64], r: int, term: _ErrorTerm, level: float
) -> tuple[Difference, ...]:
    se = math.sqrt(2 * term.value / r)
    out = []
    for a in range(len(treatments)):
        for b in range(a + 1, len(treatments)):
            estimate = float(means[a] - means[b])
            lo, hi = _interval(estimate, se, term.df, level)
            p = two_sided_p(estimate / se, term.df)
            out.append(Difference(f"{treatments[a]} - {treatments[b]}", estimate, se, lo, hi, term.df, p))
    return tuple(out)


def _modalities(
    treatments: tuple[str, ...], est: Estimates, readers: Effect, cases: Effect, level: float
) -> tuple[ModalityEstimate, ...]:
    """Single-treatment OR per treatment: random readers and cases ``se^2 = (MS(R)_i + r max(Cov2_i, 0)) / r``
    on ``df_sgl = (MS(R)_i + r max(Cov2_i, 0))^2 / (MS(R)_i^2 / (r - 1))``; fixed readers
    ``(Var_i + (r - 1) max(Cov2_i, 0)) / r``, normal; fixed cases ``MS(R)_i / r`` on ``r - 1``."""
    r = est.theta.shape[1]
    out = []
    for i, treatment in enumerate(treatments):
        theta = est.theta[i]
        block = est.covariance[i * r : (i + 1) * r, i * r : (i + 1) * r]
        cov = or_covariances(block, (1, r))
        ms_r = float(theta.var(ddof=1)) if r > 1 else 0.0
        if readers == "fixed":
            value, df = cov.var + (r - 1) * max(cov.cov2, 0.0), None
        elif cases == "fixed":
            value, df = ms_r, float(r - 1)
        else:
            value = ms_r + r * max(cov.cov2, 0.0)
            df = value**2 / (ms_r**2 / (r - 1)) if ms_r > 0 else math.inf
        se = math.sqrt(max(value, 0.0) / r)
        lo, hi = _interval(float(theta.mean()), se, df, level)
        out.append(ModalityEstimate(treatment, float(theta.mean()), se, lo, hi, df))
    return tuple(out)


def _check_readers(readings: Readings, readers: Effect) -> None:
    if readings.n_treatments < 2:
        raise MRMCInputError(
            f"{readings.source}: only one treatment ({readings.treatments[0]!r}); a comparison needs at "
            "least two treatments (to compare a model with the readers in one treatment: model_vs_readers)"
        )
    if readers == "random" and readings.n_readers < 2:
        raise MRMCInputError(
            f"{readings.source}: treatment {readings.treatments[0]!r} is read by one reader only "
            f"({readings.readers[0]!r}); random readers need at least two readers per treatment: add readers "
            "or analyse with fixed readers"
        )


def or_analysis(
    readings: Readings,
    *,
    covariance: CovarianceMethod = "jackknife",
    readers: Effect = "random",
    cases: Effect = "random",
    fom: FigureOfMerit = "auc",
    threshold: float | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> ORResult:
    """Obuchowski-Rockette analysis of two or more treatments (module docstring; docs/mrmc.md).

    Args:
        readings: the readings; a fully crossed design or cases nested within treatment.
        covariance: ``jackknife`` (OR's), ``delong`` or ``bootstrap`` (``ml.mrmc.covariance``).
        readers: ``random`` (generalise to other readers) or ``fixed`` (these readers).
        cases: ``random`` or ``fixed``; not both fixed.
        fom: ``auc`` (empirical), ``sensitivity`` or ``specificity`` (calls ``rating >= threshold``).
        threshold: the operating point of sensitivity and specificity.
        n_boot: bootstrap resamples (``covariance="bootstrap"``).
        seed: bootstrap seed.
        level: confidence level of the intervals.

    Returns:
        ``ORResult``; ``result.to_dict()`` is JSON-able.

    Raises:
        MRMCInputError: bad settings; an unsupported or incomplete design; one treatment; one reader with
            random readers; cases of one class only; an error term of 0 (nothing varies).
    """
    check_settings(covariance, readers, cases, fom, level)
    design, blocks = case_blocks(readings)
    _check_readers(readings, readers)
    t, r = readings.n_treatments, readings.n_readers
    est = estimates(blocks, (t, r), fom, covariance, threshold=threshold, n_boot=n_boot, seed=seed)
    cov = or_covariances(est.covariance, (t, r))
    vc = VarianceComponents(*mean_squares(est.theta), cov.var, cov.cov1, cov.cov2, cov.cov3)
    term = _error_term(vc, t, r, readers, cases)
    means = est.theta.mean(axis=1)
    boot = covariance == "bootstrap"
    settings = Settings(
        fom, covariance, readers, cases, design, level, est.n_cases, n_boot if boot else None,
        seed if boot else None, threshold if fom != "auc" else None,
    )  # fmt: skip
    return ORResult(
        readings.treatments,
        readings.readers,
        est.theta,
        _global_test(vc, t, term),
        _differences(readings.treatments, means, r, term, level),
        vc,
        _modalities(readings.treatments, est, readers, cases, level),
        settings,
        est.covariance,
    )
