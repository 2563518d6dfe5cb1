"""Power and sample size of a planned reader study from a pilot's OR variance components (Hillis, Obuchowski
& Berbaum 2011; docs/mrmc.md, "Sizing a study").

From a pilot OR analysis (``or_analysis``) with ``c`` cases:

* the treatment-by-reader variance ``sigma2_TR = max(MS(T:R) - Var + Cov1 + Cov2 - Cov3, 0)`` (the expected
  ``MS(T:R)`` is ``sigma2_TR + Var - Cov1 - Cov2 + Cov3``) does not depend on the number of cases;
* the error covariances shrink with the cases: with ``c*`` cases (the pilot's mix of diseased and
  non-diseased) ``Var* = Var c / c*``, and so Cov1*, Cov2*, Cov3*.

For ``r*`` readers, ``t`` treatments of which two differ by ``effect`` (the others in between: the
smallest noncentrality for that largest difference, ``sum_i (tau_i - tau.)^2 = effect^2 / 2``):

* random readers and cases: ``E = sigma2_TR + Var* - Cov1* + (r* - 1) max(Cov2* - Cov3*, 0)`` (the expected
  error term of the test), noncentrality ``lambda = r* effect^2 / (2 E)``, Hillis's
  ``ddf = (M + r* max(Cov2* - Cov3*, 0))^2 / (M^2 / ((t - 1)(r* - 1)))`` with
  ``M = sigma2_TR + Var* - Cov1* - Cov2* + Cov3*`` (the expected MS(T:R)), and
  ``power = P(F_{t-1, ddf; lambda} > F_{1-alpha; t-1, ddf})`` (noncentral F);
* fixed readers: ``E = Var* - Cov1* + (r* - 1) max(Cov2* - Cov3*, 0)``, the same lambda and
  ``power = P(chi2_{t-1; lambda} > chi2_{1-alpha; t-1})``.

With the pilot's own readers, cases and observed difference, lambda is the pilot's observed F (and ddf its
Hillis ddf) whenever ``sigma2_TR`` is not cut at 0 and ``Cov2 >= Cov3``.

Part of ``ml.mrmc``; import the names from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from ml.mrmc.analysis import Effect, ORResult
from ml.mrmc.readings import MRMCInputError

__all__ = ["PilotComponents", "PowerEstimate", "cases_for_power", "power"]


@dataclass(frozen=True)
class PilotComponents:
    """What a pilot study tells about a planned one: its size and OR variance components."""

    n_cases: int
    ms_tr: float
    var: float
    cov1: float
    cov2: float
    cov3: float

    @classmethod
    def from_result(cls, result: ORResult) -> PilotComponents:
        """The components of a pilot OR analysis (random or fixed readers, random cases).

        Raises:
            MRMCInputError: the pilot had one reader (no MS(T:R)).
        """
        vc = result.components
        if vc.ms_tr is None:
            raise MRMCInputError("the pilot has one reader: no MS(T:R), so no reader variance to plan with")
        return cls(result.settings.n_cases, vc.ms_tr, vc.var, vc.cov1, vc.cov2, vc.cov3)

    @property
    def var_tr(self) -> float:
        """``sigma2_TR``, the treatment-by-reader variance, cut at 0."""
        return max(self.ms_tr - self.var + self.cov1 + self.cov2 - self.cov3, 0.0)


@dataclass(frozen=True)
class PowerEstimate:
    """The power of a planned study (``df2`` None: fixed readers, chi-square)."""

    effect: float
    readers: int
    cases: int
    alpha: float
    power: float
    noncentrality: float
    df1: int
    df2: float | None


def power(
    pilot: PilotComponents,
    effect: float,
    readers: int,
    cases: int,
    *,
    alpha: float = 0.05,
    treatments: int = 2,
    reader_effect: Effect = "random",
) -> PowerEstimate:
    """The power of an OR test with ``readers`` readers and ``cases`` cases (module docstring).

    Args:
        pilot: the pilot's components (``PilotComponents.from_result``).
        effect: the difference of treatment means to detect (e.g. 0.05 in AUC).
        readers: readers of the planned study (at least 2 with random readers).
        cases: cases of the planned study (the pilot's mix of diseased and non-diseased).
        alpha: significance level.
        treatments: treatments of the planned study.
        reader_effect: ``random`` (noncentral F, Hillis ddf) or ``fixed`` (noncentral chi-square).

    Raises:
        MRMCInputError: too few readers, cases or treatments; alpha outside (0, 1); an error term of 0.
    """
    fewest = 2 if reader_effect == "random" else 1
    if not 0 < alpha < 1 or treatments < 2 or cases < 2 or readers < fewest:
        raise MRMCInputError(
            f"power needs 0 < alpha < 1, at least 2 treatments, 2 cases and {fewest} reader(s); "
            f"got alpha={alpha}, treatments={treatments}, cases={cases}, readers={readers}"
        )
    scale = pilot.n_cases / cases
    var, cov1 = pilot.var * scale, pilot.cov1 * scale
    between = (pilot.cov2 - pilot.cov3) * scale
    shared = max(between, 0.0)
    df1 = treatments - 1
    base = (pilot.var_tr if reader_effect == "random" else 0.0) + var - cov1
    expected = base + (readers - 1) * shared
    if not expected > 0:
        raise MRMCInputError("the pilot's error term is 0: nothing varies, so no power can be computed")
    lam = readers * effect**2 / (2 * expected)
    if reader_effect == "fixed":
        return PowerEstimate(effect, readers, cases, alpha, _sf(alpha, df1, math.inf, lam), lam, df1, None)
    interaction = base - between  # the expected MS(T:R)
    term = interaction + readers * shared  # the expected error term of the test
    ddf = term**2 / (interaction**2 / (df1 * (readers - 1))) if interaction > 0 else math.inf
    return PowerEstimate(effect, readers, cases, alpha, _sf(alpha, df1, ddf, lam), lam, df1, ddf)


def _sf(alpha: float, df1: int, ddf: float, lam: float) -> float:
    """``P(reject)`` of the level-``alpha`` test: the noncentral F (chi-square for ``ddf = inf``) beyond
    its central critical value. With no effect (``lam = 0``) that is ``alpha`` itself, computed with the
    central distribution: scipy's noncentral functions are wrong at ``nc = 0``."""
    if math.isinf(ddf):
        critical = stats.chi2.ppf(1 - alpha, df1)
        return float(stats.ncx2.sf(critical, df1, lam) if lam > 0 else stats.chi2.sf(critical, df1))
    critical = stats.f.ppf(1 - alpha, df1, ddf)
    return float(stats.ncf.sf(critical, df1, ddf, lam) if lam > 0 else stats.f.sf(critical, df1, ddf))


def cases_for_power(
    pilot: PilotComponents,
    effect: float,
    readers: int,
    *,
    target: float = 0.8,
    alpha: float = 0.05,
    treatments: int = 2,
    reader_effect: Effect = "random",
    max_cases: int = 1_000_000,
) -> PowerEstimate:
    """The fewest cases with which ``readers`` readers reach ``target`` power (and that power).

    Doubles the cases until the target is reached, then bisects (the power grows with the cases).

    Raises:
        MRMCInputError: the target is out of (0, 1), or not reached with ``max_cases`` cases -- with random
            readers the reader variance ``sigma2_TR`` caps the power however many cases: add readers.
    """
    if not 0 < target < 1:
        raise MRMCInputError(f"the target power must lie in (0, 1), got {target}")

    def at(cases: int) -> PowerEstimate:
        return power(
            pilot, effect, readers, cases, alpha=alpha, treatments=treatments, reader_effect=reader_effect
        )

    low, high = 1, 2
    while at(high).power < target:
        if high >= max_cases:
            raise MRMCInputError(
                f"{readers} readers do not reach power {target:g} for an effect of {effect:g} with "
                f"{max_cases} cases (power {at(max_cases).power:.3f}); add readers"
            )
        low, high = high, min(2 * high, max_cases)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if at(middle).power >= target else (middle, high)
    return at(high)
