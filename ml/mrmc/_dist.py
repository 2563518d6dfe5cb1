"""Tail areas and quantiles of the F, t, chi-square and normal distributions (scipy.stats), where an
infinite denominator degrees of freedom means the large-sample limit (F -> chi-square / df1, t -> normal)."""

from __future__ import annotations

import math

from scipy import stats

__all__ = ["chi2_sf", "f_sf", "t_quantile", "two_sided_p"]


def f_sf(value: float, df1: float, df2: float) -> float:
    """``P(F_{df1, df2} > value)``; ``df2 = inf`` gives ``P(chi2_{df1} > df1 value)``."""
    if math.isinf(df2):
        return float(stats.chi2.sf(value * df1, df1))
    return float(stats.f.sf(value, df1, df2))


def chi2_sf(value: float, df: float) -> float:
    """``P(chi2_df > value)``."""
    return float(stats.chi2.sf(value, df))


def t_quantile(probability: float, df: float | None) -> float:
    """The ``probability`` quantile of Student's t with ``df`` (None or inf: the normal's)."""
    if df is None or math.isinf(df):
        return float(stats.norm.ppf(probability))
    return float(stats.t.ppf(probability, df))


def two_sided_p(statistic: float, df: float | None) -> float:
    """``P(|T_df| > |statistic|)`` (None or inf: the normal's)."""
    if df is None or math.isinf(df):
        return float(2 * stats.norm.sf(abs(statistic)))
    return float(2 * stats.t.sf(abs(statistic), df))
