"""The numbers behind the dashboards: cohorts, model performance, reader agreement and progress.

Every panel is a plain function returning a JSON-ready dict with a ``table`` (list of flat rows, what the
CSV download holds) beside whatever the chart needs. Statistics come from ``ml.stats`` only, so a number
on a dashboard means what it means in the benchmarks and the paper's tables.

Cohorts are keyed strings: ``test:<model version>`` (the held-out test cases of the version's training
run), ``project:<labeling project>`` (its series with ground truth), ``readerstudy:<study>`` (its cases).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.urls import reverse

from ichweb.errors import ID_REGEX, RuleError
from ichweb.labeling.models import Case, GroundTruth, Project, Read
from ichweb.labeling.services import label_matrix, reader_progress
from ichweb.modeling.models import InferenceJob, ModelVersion, Stage
from ichweb.readerstudy import mrmc_results, results
from ichweb.readerstudy.models import ReaderStudy, StudyCase
from ml import stats
from ml.labels import LABELS, SUBTYPES


class AnalyticsError(RuleError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field)


def _num(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


# --------------------------------------------------------------------------------------------- cohorts


def cohort_choices() -> list[dict[str, str]]:
    out = [
        {"key": f"test:{v.pk}", "name": f"Test cohort of {v.name}"}
        for v in ModelVersion.objects.filter(run__isnull=False)
    ]
    out += [{"key": f"project:{p.pk}", "name": f"Labeling project: {p.name}"} for p in Project.objects.all()]
    out += [
        {"key": f"readerstudy:{s.pk}", "name": f"Reader study: {s.name}"} for s in ReaderStudy.objects.all()
    ]
    return out


def cohort_series(key: str) -> list[int]:
    """The series of a cohort key (see the module doc)."""
    kind, _, ident = key.partition(":")
    if not re.fullmatch(ID_REGEX, ident):
        raise AnalyticsError(
            f"unknown cohort {key!r}: use test:<id>, project:<id> or readerstudy:<id>", "cohort"
        )
    pk = int(ident)
    if kind == "test":
        version = ModelVersion.objects.filter(pk=pk).select_related("run").first()
        if version is None or version.run is None:
            raise AnalyticsError(f"model version {pk} has no training run, hence no test cohort", "cohort")
        return [c["series"] for c in version.run.snapshot.get("cases", []) if c["split"] == "test"]
    if kind == "project":
        return list(Case.objects.filter(project_id=pk).values_list("series_id", flat=True))
    if kind == "readerstudy":
        cases = StudyCase.objects.filter(study_id=pk).order_by("position")
        return list(cases.values_list("series_id", flat=True))
    raise AnalyticsError(f"unknown cohort kind {kind!r}: use test, project or readerstudy", "cohort")


def case_truth(series_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Case-level ground truth per series (newest non-excluded truth): label -> 0/1, ANY included."""
    truths = (
        GroundTruth.objects.filter(case__series_id__in=list(series_ids), excluded=False)
        .order_by("created_at", "pk")
        .prefetch_related("slices")
        .select_related("case")
    )
    out: dict[int, dict[str, int]] = {}
    for truth in truths:
        present = {code for s in truth.slices.all() for code in s.codes}
        row = {label: int(label in present) for label in SUBTYPES}
        row["ANY"] = int(bool(present))
        out[truth.case.series_id] = row
    return out


def model_scores(version: ModelVersion, series_ids: Iterable[int]) -> dict[int, dict[str, float]]:
    jobs = InferenceJob.objects.filter(
        model_version=version, series_id__in=list(series_ids), status=Stage.SUCCEEDED
    )
    return {job.series_id: job.case_probabilities for job in jobs}


def _paired(version: ModelVersion, cohort: str, label: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Case truth and model scores of the cohort's series that have both; and how many lack one."""
    series = cohort_series(cohort)
    truth = case_truth(series)
    scores = model_scores(version, series)
    both = [s for s in series if s in truth and s in scores and scores[s].get(label) is not None]
    y = np.array([truth[s][label] for s in both], dtype=np.int64)
    p = np.array([scores[s][label] for s in both], dtype=np.float64)
    return y, p, len(series) - len(both)


def _check_label(label: str) -> str:
    if label not in LABELS:
        raise AnalyticsError(f"unknown label {label!r}; choose one of {', '.join(LABELS)}", "label")
    return label


# --------------------------------------------------------------------------------------- model panels


def roc_panel(version: ModelVersion, cohort: str, label: str = "ANY", *, seed: int = 0) -> dict[str, Any]:
    """ROC curve, AUC with bootstrap (2,000 case resamples) and DeLong 95 % CIs, the operating point at the
    model's threshold (Wald and Wilson CIs), and the reader points of a reader-study cohort (Fig. 4)."""
    _check_label(label)
    y, p, missing = _paired(version, cohort, label)
    doc: dict[str, Any] = {
        "label": label,
        "cohort": cohort,
        "model": {"id": version.pk, "name": version.name},
        "n_cases": len(y),
        "n_positive": int(y.sum()),
        "missing_predictions": missing,
        "readers": [],
        "table": [],
    }
    if len(y) == 0 or y.min() == y.max():
        doc["note"] = "needs cases of both classes with ground truth and predictions of this model"
        return doc
    fpr, tpr, thr = stats.roc_curve(y, p)
    boot = stats.bootstrap_auc_ci(y, p, n_resamples=2000, seed=seed)
    delong = stats.delong_ci(y, p)
    doc["auc"] = {
        "value": _num(boot.auc),
        "bootstrap": [_num(boot.lo), _num(boot.hi)],
        "delong": [_num(delong.lo), _num(delong.hi)],
    }
    doc["curve"] = {"fpr": [_num(v) for v in fpr], "tpr": [_num(v) for v in tpr]}
    doc["table"] = [
        {"threshold": _num(t) if math.isfinite(t) else None, "fpr": _num(f), "tpr": _num(s)}
        for t, f, s in zip(thr, fpr, tpr, strict=True)
    ]
    threshold = version.thresholds.get(label)
    if threshold is not None:
        point = stats.operating_point(y, p, threshold)
        doc["operating_point"] = {"threshold": threshold} | {
            name: {
                "value": _num(e.p),
                "wald": [_num(e.wald_lo), _num(e.wald_hi)],
                "wilson": [_num(e.wilson_lo), _num(e.wilson_hi)],
                "k": e.k,
                "n": e.n,
            }
            for name, e in point.items()
        }
    if cohort.startswith("readerstudy:"):
        doc["readers"] = reader_points(int(cohort.partition(":")[2]), label)
    return doc


def pr_panel(
    version: ModelVersion, cohort: str, label: str = "ANY", min_precision: float = 0.7
) -> dict[str, Any]:
    """PR curve, average precision and the threshold table for a fixed minimum precision (Lewicki IV-V)."""
    _check_label(label)
    if not 0 < min_precision <= 1:
        raise AnalyticsError(f"min_precision must be in (0, 1], got {min_precision}", "min_precision")
    y, p, _ = _paired(version, cohort, label)
    doc: dict[str, Any] = {
        "label": label,
        "cohort": cohort,
        "n_cases": len(y),
        "n_positive": int(y.sum()),
        "table": [],
    }
    if len(y) == 0 or y.sum() == 0:
        doc["note"] = "needs at least one positive case with a prediction of this model"
        return doc
    precision, recall, _ = stats.pr_curve(y, p)
    table = stats.precision_threshold_table(y, p, min_precision=min_precision)
    doc["average_precision"] = _num(stats.average_precision(y, p))
    doc["curve"] = {"precision": [_num(v) for v in precision], "recall": [_num(v) for v in recall]}
    doc["min_precision"] = min_precision
    doc["chosen_threshold"] = _num(table.threshold) if table.threshold is not None else None
    doc["table"] = [
        {k: _num(v) if isinstance(v, float) else v for k, v in row.items()} for row in table.rows()
    ]
    return doc


def summary_table(
    version: ModelVersion, cohorts: Sequence[str], labels: Sequence[str] = LABELS
) -> dict[str, Any]:
    """Table-1 style: per cohort and label, AUC (bootstrap CI), sensitivity and specificity (Wald CI)."""
    rows = []
    for cohort in cohorts:
        for label in labels:
            y, p, _ = _paired(version, cohort, label)
            row: dict[str, Any] = {"cohort": cohort, "label": label, "n": len(y), "positives": int(y.sum())}
            if len(y) and 0 < y.sum() < len(y):
                ci = stats.bootstrap_auc_ci(y, p)
                row.update(auc=_num(ci.auc), auc_lo=_num(ci.lo), auc_hi=_num(ci.hi))
            t = version.thresholds.get(label)
            if len(y) and t is not None:
                point = stats.operating_point(y, p, t)
                for name in ("sensitivity", "specificity"):
                    e = point[name]
                    row.update(
                        {name: _num(e.p), f"{name}_lo": _num(e.wald_lo), f"{name}_hi": _num(e.wald_hi)}
                    )
            rows.append(row)
    return {"model": {"id": version.pk, "name": version.name}, "table": rows}


# ------------------------------------------------------------------------------------------ agreement


def project_ratings(project: Project) -> tuple[list[str], dict[int, dict[str, np.ndarray]]]:
    """Submitted primary reads of a project: reader names and, per case, reader -> (Z, 6) labels."""
    reads = (
        Read.objects.filter(
            case__project=project, kind=Read.Kind.PRIMARY, status=Read.Status.SUBMITTED, excluded=False
        )
        .select_related("reader", "case__series")
        .prefetch_related("slice_labels__slice")
    )
    by_case: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
    readers: set[str] = set()
    for read in reads:
        name = read.reader.get_username()
        readers.add(name)
        # Unlabelled slices count as negative, as at submission.
        by_case[read.case_id][name] = label_matrix(read.slice_labels.all(), read.case.series.n_slices)
    return sorted(readers), by_case


def agreement_panel(project: Project, label: str = "ANY", level: str = "case") -> dict[str, Any]:
    """Pairwise Cohen's kappa matrix, Fleiss' kappa and percentage agreement of a project's readers."""
    _check_label(label)
    if level not in ("case", "slice"):
        raise AnalyticsError("level must be 'case' or 'slice'", "level")
    c = LABELS.index(label)
    readers, by_case = project_ratings(project)
    units: list[dict[str, int]] = []  # one dict reader -> 0/1 per rated unit (case or slice)
    for ratings in by_case.values():
        if level == "case":
            units.append({r: int(v[:, c].max()) for r, v in ratings.items()})
        else:
            n = min(len(v) for v in ratings.values())
            units += [{r: int(v[z, c]) for r, v in ratings.items()} for z in range(n)]
    prefix = {"project": {"id": project.pk, "name": project.name}, "label": label, "level": level}
    return _kappa_summary(readers, units, prefix)


def _kappa_summary(readers: list[str], units: list[dict[str, int]], prefix: dict[str, Any]) -> dict[str, Any]:
    """Pairwise Cohen's kappa matrix, Fleiss' kappa and percentage agreement of 0/1 ratings per unit."""
    matrix: list[list[float | None]] = []
    table = []
    for a in readers:
        row: list[float | None] = []
        for b in readers:
            shared = [(u[a], u[b]) for u in units if a in u and b in u]
            if a == b:
                row.append(1.0 if shared else None)
                continue
            if len(shared) < 2:
                row.append(None)
                continue
            xa, xb = (np.array(v) for v in zip(*shared, strict=True))
            k = stats.cohen_kappa(xa, xb, labels=[0, 1])
            row.append(_num(k.kappa, 3))
            if a < b:
                table.append(
                    {"reader_a": a, "reader_b": b, "n": k.n, "kappa": _num(k.kappa), "lo": _num(k.lo)}
                    | {"hi": _num(k.hi), "agreement": _num(k.p_observed)}
                )
        matrix.append(row)
    sizes = {len(u) for u in units}
    fleiss = None
    if units and len(sizes) == 1 and next(iter(sizes)) >= 2:
        counts = np.array([[sum(v == 0 for v in u.values()), sum(v == 1 for v in u.values())] for u in units])
        fleiss = _num(stats.fleiss_kappa(counts))
    agreement = [len(set(u.values())) == 1 for u in units if len(u) >= 2]
    return prefix | {
        "readers": readers,
        "kappa_matrix": matrix,
        "fleiss_kappa": fleiss,
        "percent_agreement": _num(float(np.mean(agreement))) if agreement else None,
        "n_units": len(units),
        "table": table,
    }


def reader_points(study_id: int, label: str = "ANY") -> list[dict[str, Any]]:
    """Each participant's (1 - specificity, sensitivity) on a reader study's cohort, for the ROC plot."""
    study = ReaderStudy.objects.filter(pk=study_id).first()
    if study is None:
        raise AnalyticsError(f"no reader study {study_id}", "cohort")
    points = []
    for row in results.reader_performance(study)["participants"]:
        rates = row["ich"] if label == "ANY" else row["subtypes"].get(label, {})
        sens, spec = rates.get("sensitivity", {}).get("p"), rates.get("specificity", {}).get("p")
        if sens is None or spec is None:
            continue
        points.append(
            {"name": row["participant"], "fpr": _num(1 - spec), "tpr": _num(sens), "n": row["n_read"]}
        )
    return points


def readerstudy_agreement(study: ReaderStudy, label: str = "ANY") -> dict[str, Any]:
    """Case-level agreement of a reader study's participants (submitted reads) on one label."""
    _check_label(label)
    units: dict[int, dict[str, int]] = defaultdict(dict)
    reads = results.unaided_reads(study).select_related("participant")
    for read in reads:
        value = bool(read.ich) if label == "ANY" else label in read.codes
        units[read.case_id][read.participant.get_username()] = int(value)
    readers = sorted({name for u in units.values() for name in u})
    prefix = {"study": {"id": study.pk, "name": study.name}, "label": label, "level": "case"}
    return _kappa_summary(readers, list(units.values()), prefix)


def readerstudy_panel(study: ReaderStudy, label: str = "ANY") -> dict[str, Any]:
    """A reader study on the dashboards: reader operating points with Wald CIs, agreement between the
    participants, prediction-basis agreement with the model and between readers, localisation overlap."""
    performance = results.reader_performance(study)
    questionnaire = results.questionnaire_agreement(study)
    table = []
    for row in performance["participants"]:
        sens, spec = row["ich"]["sensitivity"], row["ich"]["specificity"]
        table.append(
            {"participant": row["participant"], "cases_read": row["n_read"], "sensitivity": sens["p"]}
            | {"sensitivity_lo": sens["wald"][0], "sensitivity_hi": sens["wald"][1], "specificity": spec["p"]}
            | {"specificity_lo": spec["wald"][0], "specificity_hi": spec["wald"][1]}
            | {"reader_auc": (row["roc"] or {}).get("auc")}
        )

    def basis_row(r: dict[str, Any]) -> dict[str, Any]:
        who = {k: r[k] for k in ("participant", "first", "second") if k in r}
        return who | {"n": r["n"], "agreement": r["agreement"]["p"], "kappa": r["kappa"]["kappa"]}

    return {
        "study": {"id": study.pk, "name": study.name},
        "label": label,
        "n_cases": performance["n_cases"],
        "readers": reader_points(study.pk, label),
        "model_roc": performance["model"],
        "agreement": readerstudy_agreement(study, label),
        "basis_vs_model": [basis_row(r) for r in questionnaire["model"]],
        "basis_between_readers": [basis_row(r) for r in questionnaire["pairs"]],
        "localisation": results.localisation_overlap(study),
        "table": table,
    }


def _mrmc_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparison's headline numbers, one row each (a row with a ``note`` where one cannot be given)."""
    panels = doc["panels"]
    rows: list[dict[str, Any]] = []
    roc, difference, power = panels["roc"], panels["difference"], panels["power"]
    if not roc["available"]:
        rows.append({"quantity": "AUC", "note": roc["reason"]})
    for m in roc.get("modalities", []):
        rows.append({"quantity": "AUC", "modality": m["treatment"], "estimate": m["auc"]} | _ci(m))
    if difference["available"]:
        rows.append(
            {
                "quantity": "AUC difference",
                "modality": difference["comparison"],
                "estimate": difference["estimate"],
            }
            | _ci(difference)
            | {"p_value": difference["p_value"]}
        )
    for row in panels["sensitivity_specificity"]["table"]:
        if row.get("note"):
            rows.append({"quantity": row["measure"], "note": row["note"]})
        else:
            rows.append(
                {"quantity": row["measure"], "modality": row["treatment"], "estimate": row["estimate"]}
                | _ci(row)
                | {"p_value": row.get("p_value")}
            )
    for arm in panels["reading_time"].get("arms", []):
        rows.append(
            {"quantity": "median reading time (s)", "modality": arm["treatment"], "estimate": arm["median"]}
            | {"low": arm["q1"], "high": arm["q3"], "interval": "IQR"}
        )
    if power["available"]:
        rows.append(
            {"quantity": f"cases for {power['target']:.0%} power", "modality": f"{power['readers']} readers"}
            | {"estimate": power["cases"]}
        )
    else:
        rows.append({"quantity": "cases for a follow-up study", "note": power["reason"]})
    return rows


def _ci(row: dict[str, Any]) -> dict[str, Any]:
    return {"low": row["ci_lower"], "high": row["ci_upper"], "interval": "95 % CI"}


def readerstudy_mrmc_panel(study: ReaderStudy) -> dict[str, Any]:
    """A reader study's aided and unaided reads compared (``ichweb.readerstudy.mrmc_results``): every panel
    of the comparison, the URLs of each panel's JSON and CSV, and the headline numbers as ``table``."""
    doc = mrmc_results.mrmc_document(study)
    links = {name: reverse("readerstudy-mrmc-panel", args=[study.pk, name]) for name in mrmc_results.PANELS}
    return {
        **doc,
        "links": links,
        "readings_url": reverse("readerstudy-readings", args=[study.pk]),
        "results_url": reverse("readerstudy:results", args=[study.pk]),
        "table": _mrmc_rows(doc),
    }


def labeling_progress(project: Project) -> dict[str, Any]:
    """Per reader (by name) their reads assigned, submitted and in progress (``reader_progress``), the
    fraction done; and the project's cases and how many have ground truth."""
    rows = []
    for reader, row in sorted(reader_progress(project).items()):
        rows.append({"reader": reader, **row, "done": _num(row["submitted"] / row["assigned"], 3)})
    cases = Case.objects.filter(project=project)
    return {
        "project": {"id": project.pk, "name": project.name},
        "cases": cases.count(),
        "cases_with_ground_truth": GroundTruth.objects.filter(case__project=project).count(),
        "table": rows,
    }


def case_context(series_id: int, version: ModelVersion | None = None) -> dict[str, Any]:
    """One case in the light of its study: the reads of each project holding it (who said what, only once
    every read of the case is submitted), their agreement on the case, the project's case-level kappa for
    "any ICH", and the model's AUC on the project's cohort."""
    projects = []
    cases = Case.objects.filter(series_id=series_id).select_related("project", "series")
    for case in cases:
        reads = list(
            case.reads.filter(kind=Read.Kind.PRIMARY)
            .select_related("reader")
            .prefetch_related("slice_labels__slice")
        )
        over = bool(reads) and all(r.status == Read.Status.SUBMITTED for r in reads)
        entry: dict[str, Any] = {
            "project": {"id": case.project_id, "name": case.project.name},
            "reading_over": over,
        }
        if over:
            rows = []
            for read in reads:
                codes = label_matrix(read.slice_labels.all(), case.series.n_slices).max(axis=0)
                rows.append(
                    {"reader": read.reader.get_username(), "excluded": read.excluded}
                    | {label: int(codes[i]) for i, label in enumerate(LABELS)}
                )
            entry["reads"] = rows
            included = [r for r in rows if not r["excluded"]]
            entry["unanimous"] = (
                {label: len({r[label] for r in included}) <= 1 for label in LABELS} if included else {}
            )
            project_kappa = agreement_panel(case.project, "ANY", "case")
            entry["project_fleiss_kappa_any"] = project_kappa["fleiss_kappa"]
            entry["project_percent_agreement_any"] = project_kappa["percent_agreement"]
        if version is not None:
            y, p, _ = _paired(version, f"project:{case.project_id}", "ANY")
            entry["model_auc_any"] = _num(stats.roc_auc(y, p)) if len(y) and 0 < y.sum() < len(y) else None
        projects.append(entry)
    truth = case_truth([series_id]).get(series_id)
    return {
        "series": series_id,
        "ground_truth": truth,
        "projects": projects,
        "table": [{"project": e["project"]["name"], **r} for e in projects for r in e.get("reads", [])],
    }
