"""Readable reports of MRMC results: the tables ``python -m ml.mrmc`` prints.

Part of ``ml.mrmc``; import the names from there.
"""

from __future__ import annotations

import math

from ml.mrmc.analysis import ORResult
from ml.mrmc.design import DESIGNS
from ml.mrmc.standalone import ModelComparison

__all__ = ["format_comparison", "format_result"]

_FOM_NAMES = {"auc": "AUC", "sensitivity": "sensitivity", "specificity": "specificity"}


def _df(df: float | None) -> str:
    return "normal" if df is None or math.isinf(df) else f"{df:.2f}"


def _p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _settings_line(result: ORResult) -> str:
    s = result.settings
    extra = (
        f" at threshold {s.threshold:g} (rating >= threshold is positive)" if s.threshold is not None else ""
    )
    boot = f" ({s.n_boot} resamples, seed {s.seed})" if s.n_boot is not None else ""
    return (
        f"  figure of merit: {_FOM_NAMES[s.fom]}{extra}; covariance: {s.covariance}{boot}; "
        f"readers {s.readers}, cases {s.cases}"
    )


def _fom_table(result: ORResult) -> list[str]:
    name = _FOM_NAMES[result.settings.fom]
    width = max(8, *(len(t) for t in result.treatments))
    reader_width = max(6, *(len(r) for r in result.readers))
    head = f"  {'reader':<{reader_width}}" + "".join(f"  {t:>{width}}" for t in result.treatments)
    lines = [f"{name} by reader and treatment", head]
    for j, reader in enumerate(result.readers):
        lines.append(
            f"  {reader:<{reader_width}}" + "".join(f"  {v:>{width}.4f}" for v in result.theta[:, j])
        )
    lines.append(f"  {'mean':<{reader_width}}" + "".join(f"  {m:>{width}.4f}" for m in result.means))
    return lines


def _components(result: ORResult) -> list[str]:
    vc = result.components.to_dict()
    shown = [f"{k} {'-' if v is None else f'{v:.6f}'}" for k, v in vc.items()]
    return ["Variance components (OR)", "  " + "  ".join(shown[:3]), "  " + "  ".join(shown[3:])]


def _tests(result: ORResult) -> list[str]:
    g, level = result.global_test, round(100 * result.settings.level)
    dfs = f"df = {g.df1}" if g.df2 is None else f"df = {g.df1} and {_df(g.df2)}"
    lines = [
        f"Global test of equal treatment means: {g.statistic} = {g.value:.4f}, {dfs}, p = {_p(g.p_value)}",
        "",
        f"Differences ({level} % CI)",
        f"  {'comparison':<14}{'estimate':>10}{'lower':>10}{'upper':>10}{'df':>9}{'p':>9}",
    ]
    for d in result.differences:
        lines.append(
            f"  {d.comparison:<14}{d.estimate:>10.5f}{d.ci_lower:>10.5f}{d.ci_upper:>10.5f}"
            f"{_df(d.df):>9}{_p(d.p_value):>9}"
        )
    lines += [
        "",
        f"Treatments ({level} % CI)",
        f"  {'treatment':<14}{'mean':>10}{'lower':>10}{'upper':>10}{'df':>9}",
    ]
    for m in result.modalities:
        lines.append(
            f"  {m.treatment:<14}{m.estimate:>10.4f}{m.ci_lower:>10.4f}{m.ci_upper:>10.4f}{_df(m.df):>9}"
        )
    return lines


def format_result(result: ORResult, source: str = "") -> str:
    """The report of an OR analysis: settings and design, the reader x treatment table, the variance
    components, the global test, the differences and each treatment's interval."""
    s = result.settings
    t, r = result.theta.shape
    lines = [
        f"Obuchowski-Rockette MRMC analysis{f': {source}' if source else ''}",
        _settings_line(result),
        f"  design: {DESIGNS[s.design]}; {t} treatments x {r} readers, {s.n_cases} cases",
        "",
        *_fom_table(result),
        "",
        *_components(result),
        "",
        *_tests(result),
    ]
    return "\n".join(lines)


def format_comparison(comparison: ModelComparison, source: str = "") -> str:
    """The report of ``model_vs_readers``."""
    c, name = comparison, _FOM_NAMES[comparison.fom]
    level = round(100 * c.level)
    lines = [
        f"Model versus readers{f': {source}' if source else ''}",
        f"  treatment {c.treatment!r}; figure of merit: {name}; covariance: {c.covariance}; "
        f"readers {c.readers}, cases {c.cases}",
        "",
        *(f"  reader {reader:<10} {value:.4f}" for reader, value in c.reader_values),
        f"  readers' mean     {c.reader_mean:.4f}",
        f"  model {c.model:<11} {c.model_value:.4f}",
        "",
        f"readers - model: {c.estimate:.5f} ({level} % CI {c.ci_lower:.5f} to {c.ci_upper:.5f}), "
        f"df {_df(c.df)}, p = {_p(c.p_value)}",
    ]
    return "\n".join(lines)
