"""Aided against unaided reads: the multi-reader multi-case (MRMC) comparison of a study's two modalities,
computed by ``ml.mrmc`` from the study's readings, as JSON-ready panels
(docs/reader-studies.md, "Results: aided against unaided").

The readings are the long table ``reader, treatment, case, truth, rating`` of every submitted read
(``readings``): reader = the participant's user name (as the other results name participants), treatment =
the read's modality, case = the study case id, truth = 1 for a case with ICH in the study's ground truth
(``truth.case_truths``), rating = the read's ICH score (``results.ich_score``). Aided rows come first, so
that the comparison ``ml.mrmc`` reports, on this table as on its CSV, is "aided - unaided".

Panels (``PANELS``), each a dict with ``available``, ``reason`` (``None``, or why the numbers cannot be
given: the ``MRMCInputError`` message) and a ``table`` of flat rows (what its CSV holds):

* ``readings``: the long table itself;
* ``roc``: per modality the reader-averaged ROC curve (the vertical average of the readers' empirical
  curves, whose area is the readers' mean AUC), each reader's curve and AUC, the mean AUC with its
  single-modality OR interval;
* ``difference``: the OR analysis (jackknife covariances, random readers and cases, Hillis ddf): the AUC
  difference aided - unaided with its 95 % interval and p, the F test, the variance components;
* ``operating_points``: the study model's ROC on the cohort and each reader's unaided and aided operating
  point (1 - specificity, sensitivity of their calls);
* ``sensitivity_specificity``: OR analyses of the calls' sensitivity and specificity per modality and of
  their differences;
* ``reading_time``: median and interquartile range of the reading time per modality, overall and per reader;
* ``power``: the cases a follow-up study with as many readers needs for 80 % power to find the observed
  AUC difference (``ml.mrmc.cases_for_power`` from this study's variance components).

Participants without a submitted read are not in the table (``without_readings``); a participant with some
reads but not all makes the design incomplete, and the analysis says so rather than leaving them out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ichweb.readerstudy import results
from ichweb.readerstudy.models import CaseRead, Modality, ReaderStudy
from ichweb.readerstudy.truth import case_truths
from ml import stats
from ml.mrmc import MRMCInputError, ORResult, PilotComponents, Readings, cases_for_power, or_analysis

#: The order of the modalities in the table: aided first, so that differences read "aided - unaided".
TREATMENTS = (Modality.AIDED.value, Modality.UNAIDED.value)
#: What ``ml.mrmc``'s messages call the table.
SOURCE = "the study's readings"
#: The power a follow-up study is sized for, and its significance level.
TARGET_POWER, ALPHA = 0.8, 0.05
COLUMNS = ("reader", "treatment", "case", "truth", "rating")
PANELS = (
    "readings",
    "roc",
    "difference",
    "operating_points",
    "sensitivity_specificity",
    "reading_time",
    "power",
)


@dataclass(frozen=True)
class Reading:
    """One submitted read as the analyses see it."""

    reader: str
    treatment: str
    case: int
    truth: int
    rating: float
    call: bool
    seconds: float

    def record(self, rating: float | None = None) -> dict[str, object]:
        """The row of the long table (``rating`` replaced, e.g. by the call for sensitivity)."""
        return {
            "reader": self.reader,
            "treatment": self.treatment,
            "case": self.case,
            "truth": self.truth,
            "rating": self.rating if rating is None else rating,
        }


def study_readings(study: ReaderStudy) -> list[Reading]:
    """Every submitted read of the study, aided first, then by reader and case."""
    truths = case_truths(study.cases.all())
    reads = CaseRead.objects.filter(case__study=study, submitted_at__isnull=False).select_related(
        "participant"
    )
    rows = [
        Reading(
            reader=read.participant.get_username(),
            treatment=read.modality,
            case=read.case_id,
            truth=int(truths[read.case_id].ich),
            rating=results.ich_score(read),
            call=bool(read.ich),
            seconds=round(read.reading_seconds, 1),
        )
        for read in reads
    ]
    order = {t: i for i, t in enumerate(TREATMENTS)}
    return sorted(rows, key=lambda r: (order.get(r.treatment, len(order)), r.reader, r.case))


def readings_panel(records: list[dict[str, object]]) -> dict[str, Any]:
    """The long table ``reader, treatment, case, truth, rating``."""
    if not records:
        return _unavailable("no submitted reads yet")
    return {"available": True, "reason": None, "columns": list(COLUMNS), "table": records}


def _unavailable(reason: str, **extra: Any) -> dict[str, Any]:
    return {"available": False, "reason": reason, **extra, "table": []}


def _analyse(records: Sequence[dict[str, object]], **settings: Any) -> ORResult | str:
    """``or_analysis`` of the records, or the message of why it cannot run."""
    try:
        return or_analysis(Readings.from_records(records, source=SOURCE), **settings)
    except MRMCInputError as exc:
        return str(exc)


# --- ROC curves ---------------------------------------------------------------------------------------------


def _curve_at(fpr: NDArray[np.float64], tpr: NDArray[np.float64], grid: NDArray[np.float64]) -> NDArray[Any]:
    """A reader's empirical ROC curve at ``grid`` (FPRs): ``(2, len(grid))``, the lowest and highest TPR there
    (they differ where the curve rises vertically), linear between the curve's points."""
    left, right = np.searchsorted(fpr, grid, "left"), np.searchsorted(fpr, grid, "right")
    exact = right > left
    below = np.clip(left - 1, 0, fpr.size - 1)
    above = np.clip(left, 0, fpr.size - 1)
    width = np.where(fpr[above] > fpr[below], fpr[above] - fpr[below], 1.0)
    between = tpr[below] + (grid - fpr[below]) * (tpr[above] - tpr[below]) / width
    low = np.where(exact, tpr[np.clip(left, 0, tpr.size - 1)], between)
    high = np.where(exact, tpr[np.clip(right - 1, 0, tpr.size - 1)], between)
    return np.vstack([low, high])


def average_curve(
    curves: Sequence[tuple[NDArray[np.float64], NDArray[np.float64]]],
) -> dict[str, list[float]]:
    """The vertical average of empirical ROC curves: the mean TPR at every FPR where any curve has a point
    (low and high values at a vertical rise), so that the average's area is the mean of the curves' areas."""
    grid = np.unique(np.concatenate([fpr for fpr, _ in curves]))
    mean = np.mean([_curve_at(fpr, tpr, grid) for fpr, tpr in curves], axis=0)
    fpr_out = np.repeat(grid, 2)
    tpr_out = mean.T.ravel()
    keep = np.r_[True, (np.diff(fpr_out) != 0) | (np.diff(tpr_out) != 0)]
    return {"fpr": fpr_out[keep].tolist(), "tpr": tpr_out[keep].tolist()}


def _reader_curves(rows: Sequence[Reading], result: ORResult, t: int) -> list[dict[str, Any]]:
    treatment = result.treatments[t]
    out = []
    for j, reader in enumerate(result.readers):
        mine = [r for r in rows if r.treatment == treatment and r.reader == reader]
        fpr, tpr, _ = stats.roc_curve([r.truth for r in mine], [r.rating for r in mine])
        out.append(
            {"reader": reader, "auc": float(result.theta[t, j]), "fpr": fpr.tolist(), "tpr": tpr.tolist()}
        )
    return out


def roc_panel(rows: Sequence[Reading], result: ORResult | str) -> dict[str, Any]:
    """Reader-averaged ROC per modality with each reader's curve (module docstring)."""
    if isinstance(result, str):
        return _unavailable(result)
    modalities, table = [], []
    for t, estimate in enumerate(result.modalities):
        readers = _reader_curves(rows, result, t)
        curves = [(np.asarray(r["fpr"]), np.asarray(r["tpr"])) for r in readers]
        interval = {k: v for k, v in estimate.to_dict().items() if k not in ("treatment", "auc")}
        modalities.append(
            {
                "treatment": estimate.treatment,
                "auc": estimate.estimate,
                **interval,
                "mean_curve": average_curve(curves),
                "readers": readers,
            }
        )
        table.append(
            {"treatment": estimate.treatment, "reader": "mean", "auc": estimate.estimate, **interval}
        )
        table += [{"treatment": estimate.treatment, "reader": r["reader"], "auc": r["auc"]} for r in readers]
    return {"available": True, "reason": None, "modalities": modalities, "table": table}


# --- the OR analysis and the sizing -------------------------------------------------------------------------


def difference_panel(result: ORResult | str) -> dict[str, Any]:
    """The AUC difference aided - unaided with its 95 % interval and p (random readers and cases)."""
    if isinstance(result, str):
        return _unavailable(result)
    analysis = result.to_dict()
    (difference,) = analysis["differences"]
    return {
        "available": True,
        "reason": None,
        **difference,
        "global": analysis["global"],
        "variance_components": analysis["variance_components"],
        "settings": analysis["settings"],
        "aucs": analysis["aucs"],
        "table": [difference],
    }


def power_panel(result: ORResult | str) -> dict[str, Any]:
    """The cases a follow-up study with this study's readers needs for 80 % power at the observed effect."""
    if isinstance(result, str):
        return _unavailable(result)
    effect = abs(result.differences[0].estimate)
    if effect == 0:
        return _unavailable(
            "the observed AUC difference is 0: there is no effect to size a follow-up study for"
        )
    try:
        found = cases_for_power(
            PilotComponents.from_result(result), effect, len(result.readers), target=TARGET_POWER, alpha=ALPHA
        )
    except MRMCInputError as exc:
        return _unavailable(str(exc))
    row = {
        "effect": found.effect,
        "readers": found.readers,
        "cases": found.cases,
        "power": found.power,
        "target": TARGET_POWER,
        "alpha": found.alpha,
        "noncentrality": found.noncentrality,
        "df1": found.df1,
        "df2": None if found.df2 is None or not np.isfinite(found.df2) else found.df2,
        "pilot_cases": result.settings.n_cases,
    }
    return {"available": True, "reason": None, **row, "table": [row]}


def _proportion_panel(rows: Sequence[Reading], fom: str) -> dict[str, Any]:
    records = [r.record(rating=float(r.call)) for r in rows]
    result = _analyse(records, fom=fom, threshold=0.5)
    if isinstance(result, str):
        return {"available": False, "reason": result, "modalities": [], "difference": None}
    modalities = [
        {"treatment": m.treatment, "estimate": m.estimate, "se": m.se, "ci_lower": m.ci_lower}
        | {"ci_upper": m.ci_upper, "df": m.to_dict()["df"]}
        for m in result.modalities
    ]
    return {
        "available": True,
        "reason": None,
        "modalities": modalities,
        "difference": result.differences[0].to_dict(),
    }


def sensitivity_specificity_panel(rows: Sequence[Reading]) -> dict[str, Any]:
    """OR analyses of the calls' sensitivity and specificity per modality and of their differences."""
    measures = {fom: _proportion_panel(rows, fom) for fom in ("sensitivity", "specificity")}
    table = []
    for fom, doc in measures.items():
        if not doc["available"]:
            table.append({"measure": fom, "treatment": None, "note": doc["reason"]})
            continue
        table += [{"measure": fom, **m} for m in doc["modalities"]]
        d = doc["difference"]
        table.append(
            {"measure": fom, "treatment": d["comparison"]} | {k: v for k, v in d.items() if k != "comparison"}
        )
    reasons = [f"{fom}: {doc['reason']}" for fom, doc in measures.items() if not doc["available"]]
    available = any(doc["available"] for doc in measures.values())
    return {"available": available, "reason": "; ".join(reasons) or None, **measures, "table": table}


# --- operating points and reading time ---------------------------------------------------------------------


def _point(rows: Sequence[Reading]) -> dict[str, Any] | None:
    positives = [r.call for r in rows if r.truth]
    negatives = [not r.call for r in rows if not r.truth]
    if not positives or not negatives:
        return None
    sens, spec = float(np.mean(positives)), float(np.mean(negatives))
    return {"fpr": 1 - spec, "tpr": sens, "sensitivity": sens, "specificity": spec, "n": len(rows)}


def operating_points_panel(study: ReaderStudy, rows: Sequence[Reading]) -> dict[str, Any]:
    """The model's ROC and each reader's operating point per modality (the arrow: unaided -> aided)."""
    by: dict[tuple[str, str], list[Reading]] = defaultdict(list)
    for r in rows:
        by[(r.reader, r.treatment)].append(r)
    readers: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    for reader in sorted({r.reader for r in rows}):
        points = {t: _point(by[(reader, t)]) for t in reversed(TREATMENTS)}
        if any(points.values()):
            readers.append({"reader": reader, **points})
            table += [{"reader": reader, "treatment": t, **p} for t, p in points.items() if p]
    model = results.model_roc(study, case_truths(study.cases.all()))
    if not readers:
        return _unavailable(
            "no reader has reads of cases both with and without ICH yet: an operating point needs both",
            model=model,
        )
    return {"available": True, "reason": None, "model": model, "readers": readers, "table": table}


def _spread(seconds: Sequence[float]) -> dict[str, Any]:
    q1, median, q3 = np.percentile(seconds, [25, 50, 75])
    return {
        "n": len(seconds),
        "median": round(float(median), 1),
        "q1": round(float(q1), 1),
        "q3": round(float(q3), 1),
    }


def reading_time_panel(rows: Sequence[Reading]) -> dict[str, Any]:
    """Median and interquartile range of the reading time per modality, overall and per reader (seconds)."""
    if not rows:
        return _unavailable("no submitted reads yet")
    arms, table = [], []
    for treatment in reversed(TREATMENTS):
        mine = [r for r in rows if r.treatment == treatment]
        if not mine:
            continue
        overall = {"treatment": treatment, **_spread([r.seconds for r in mine])}
        arms.append(overall)
        table.append({"treatment": treatment, "reader": "all", **_spread([r.seconds for r in mine])})
        for reader in sorted({r.reader for r in mine}):
            spread = _spread([r.seconds for r in mine if r.reader == reader])
            table.append({"treatment": treatment, "reader": reader, **spread})
    return {"available": True, "reason": None, "arms": arms, "table": table}


# --- the document ------------------------------------------------------------------------------------------


def mrmc_document(study: ReaderStudy) -> dict[str, Any]:
    """Every panel of the comparison (module docstring) with the study's facts."""
    rows = study_readings(study)
    records = [r.record() for r in rows]
    auc = _analyse(records)
    readers = sorted({r.reader for r in rows})
    panels: dict[str, Callable[[], dict[str, Any]]] = {
        "readings": lambda: readings_panel(records),
        "roc": lambda: roc_panel(rows, auc),
        "difference": lambda: difference_panel(auc),
        "operating_points": lambda: operating_points_panel(study, rows),
        "sensitivity_specificity": lambda: sensitivity_specificity_panel(rows),
        "reading_time": lambda: reading_time_panel(rows),
        "power": lambda: power_panel(auc),
    }
    return {
        "study": {"id": study.pk, "name": study.name, "design": study.design},
        "treatments": [t for t in TREATMENTS if any(r.treatment == t for r in rows)],
        "readers": readers,
        "without_readings": sorted(
            u.get_username() for u in study.participants.all() if u.get_username() not in readers
        ),
        "n_cases": study.cases.count(),
        "analysis": {"available": not isinstance(auc, str), "reason": auc if isinstance(auc, str) else None},
        "panels": {name: make() for name, make in panels.items()},
    }
