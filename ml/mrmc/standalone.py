"""A model against the readers in one treatment: the readers' mean figure of merit minus the model's
(docs/mrmc.md, "Model versus readers").

The model is one more "reader" of the table, but a fixed one: it would give the same ratings in every
replication of the study, so only the cases make its AUC ``theta_0`` vary. With ``d_j = theta_j - theta_0``
for the ``r`` readers, the estimate is ``D = mean_j d_j`` and a single-treatment OR analysis of the
``d_j`` (Obuchowski & Rockette 1995; Hillis 2007) gives its variance:

* ``MS(R)`` is the readers' sample variance of ``d_j`` (that of ``theta_j``: ``theta_0`` is common);
* ``Cov2_d = mean_{j != j'} Cov(d_j, d_j') = mean (C_jj' - C_j0 - C_j'0) + C_00`` and
  ``Var_d = mean_j (C_jj - 2 C_j0) + C_00`` from the covariance ``C`` over cases of the readers' and the
  model's estimates (jackknife, DeLong or bootstrap, ``ml.mrmc.covariance``), so the model's own variance
  and its covariance with each reader enter.

Random readers and cases: ``se^2 = (MS(R) + r max(Cov2_d, 0)) / r`` on
``df = (MS(R) + r max(Cov2_d, 0))^2 / (MS(R)^2 / (r - 1))`` (t); fixed readers:
``se^2 = (Var_d + (r - 1) max(Cov2_d, 0)) / r`` (normal); fixed cases: ``se^2 = MS(R) / r`` on ``r - 1``.

Part of ``ml.mrmc``; import the names from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ml.mrmc._dist import t_quantile, two_sided_p
from ml.mrmc.analysis import Effect, check_settings
from ml.mrmc.covariance import CovarianceMethod, estimates
from ml.mrmc.design import case_blocks
from ml.mrmc.fom import FigureOfMerit
from ml.mrmc.readings import MRMCInputError, Readings

__all__ = ["ModelComparison", "model_vs_readers"]


@dataclass(frozen=True)
class ModelComparison:
    """The readers' mean figure of merit minus the model's, in one treatment.

    Attributes:
        treatment: the treatment compared in.
        model: the model's reader label.
        reader_mean: the readers' mean figure of merit.
        model_value: the model's figure of merit.
        estimate: ``reader_mean - model_value``.
        se, ci_lower, ci_upper, df, p_value: its standard error, interval, df (None: normal) and two-sided
            p-value of "no difference".
        readers, cases, covariance, fom, level: the settings.
        reader_values: each reader's figure of merit (in the table's reader order, the model left out).
    """

    treatment: str
    model: str
    reader_mean: float
    model_value: float
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    df: float | None
    p_value: float
    readers: Effect
    cases: Effect
    covariance: CovarianceMethod
    fom: FigureOfMerit
    level: float
    reader_values: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "reader_values"}
        out["df"] = None if self.df is None or math.isinf(self.df) else self.df
        out["comparison"] = f"readers - {self.model}"
        out["reader_values"] = [{"reader": r, "auc": v} for r, v in self.reader_values]
        return out


def _difference_variance(
    theta: NDArray[np.float64], cov: NDArray[np.float64], readers: Effect, cases: Effect
) -> tuple[float, float | None]:
    """``se^2`` of the mean difference and its df from the ``(r + 1)`` estimates (model last) and their
    covariance (module docstring)."""
    r = theta.size - 1
    ms_r = float(theta[:r].var(ddof=1))
    to_model, model_var = cov[:r, r], cov[r, r]
    var_d = float(np.mean(np.diag(cov)[:r] - 2 * to_model) + model_var)
    off = ~np.eye(r, dtype=bool)
    pair = cov[:r, :r] - to_model[:, None] - to_model[None, :] + model_var
    cov2_d = float(pair[off].mean()) if r > 1 else 0.0
    if readers == "fixed":
        return (var_d + (r - 1) * max(cov2_d, 0.0)) / r, None
    if cases == "fixed":
        return ms_r / r, float(r - 1)
    value = ms_r + r * max(cov2_d, 0.0)
    return value / r, (value**2 / (ms_r**2 / (r - 1)) if ms_r > 0 else math.inf)


def _one_treatment(readings: Readings, model: str, treatment: str | None) -> tuple[Readings, str]:
    if model not in readings.readers:
        raise MRMCInputError(
            f"{readings.source}: no reader {model!r} (the model); the readers are "
            f"{', '.join(map(repr, readings.readers))}"
        )
    if treatment is None:
        rated = readings.treatment_of[readings.reader_of == readings.readers.index(model)]
        with_model = {readings.treatments[i] for i in rated}
        if len(with_model) != 1:
            raise MRMCInputError(
                f"{readings.source}: the model {model!r} rated cases in treatments "
                f"{', '.join(sorted(map(repr, with_model)))}; name the treatment to compare in"
            )
        treatment = with_model.pop()
    one = readings.subset(treatments=[treatment])
    if model not in one.readers:
        raise MRMCInputError(
            f"{readings.source}: the model {model!r} rated no case in treatment {treatment!r}"
        )
    if one.n_readers < 3:
        raise MRMCInputError(
            f"{readings.source}: treatment {treatment!r} has {one.n_readers - 1} reader(s) besides the "
            "model; comparing a model with readers needs at least two readers"
        )
    return one, treatment


def model_vs_readers(
    readings: Readings,
    model: str,
    *,
    treatment: str | None = None,
    covariance: CovarianceMethod = "jackknife",
    readers: Effect = "random",
    cases: Effect = "random",
    fom: FigureOfMerit = "auc",
    threshold: float | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> ModelComparison:
    """The readers' mean figure of merit minus the model's in one treatment (module docstring).

    Args:
        readings: readings in which the model is a reader labelled ``model``, on the readers' cases.
        model: the model's reader label.
        treatment: the treatment to compare in; None: the one the model rated.
        covariance, readers, cases, fom, threshold, n_boot, seed, level: as in ``or_analysis``.

    Raises:
        MRMCInputError: no such model or treatment; fewer than two readers besides the model; the readers
            and the model did not all read the same cases; bad settings; a variance of 0.
    """
    check_settings(covariance, readers, cases, fom, level)
    one, treatment = _one_treatment(readings, model, treatment)
    order = [name for name in one.readers if name != model] + [model]
    _, blocks = case_blocks(one)
    est = estimates(
        blocks, (1, one.n_readers), fom, covariance, threshold=threshold, n_boot=n_boot, seed=seed
    )
    position = [one.readers.index(name) for name in order]
    theta = est.theta[0, position]
    cov = est.covariance[np.ix_(position, position)]
    variance, df = _difference_variance(theta, cov, readers, cases)
    if not variance > 0:
        raise MRMCInputError(
            "the variance of the readers' mean minus the model is 0: nothing varies; check the ratings"
        )
    se = math.sqrt(variance)
    estimate = float(theta[:-1].mean() - theta[-1])
    half = t_quantile(1 - (1 - level) / 2, df) * se
    return ModelComparison(
        treatment, model, float(theta[:-1].mean()), float(theta[-1]), estimate, se, estimate - half,
        estimate + half, df, two_sided_p(estimate / se, df), readers, cases, covariance, fom, level,
        tuple((name, float(v)) for name, v in zip(order[:-1], theta[:-1], strict=True)),
    )  # fmt: skip
