"""The review document of a series: everything the review page shows, in one JSON object."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from ichweb.imaging.models import Series
from ichweb.labeling.models import GroundTruth
from ichweb.modeling import access
from ichweb.modeling.models import AttentionMap, InferenceJob, ModelVersion, PredictionBasis, Stage


def _job(series: Series, version_id: int | None) -> InferenceJob | None:
    jobs = InferenceJob.objects.filter(series=series).select_related("model_version")
    if version_id is not None:
        return jobs.filter(model_version_id=version_id).first()
    active = ModelVersion.objects.active()
    if active is not None:
        job = jobs.filter(model_version=active).first()
        if job is not None:
            return job
    return jobs.filter(status=Stage.SUCCEEDED).order_by("-finished_at").first()


def _entry(basis: PredictionBasis, show_source: bool) -> dict[str, Any]:
    e = basis.entry
    entry: dict[str, Any] = {
        "id": e.pk,
        "label": e.label,
        "block": e.block,
        "filter": e.filter,
        "relevance": e.relevance,
        "patch_url": reverse("atlasentry-patch", args=[e.pk]),
        "map_url": reverse("atlasentry-map", args=[e.pk]),
    }
    if show_source:
        entry.update(source_series=e.source_series_id, source_slice_index=e.source_slice_index)
    return {"rank": basis.rank, "distance": round(basis.distance, 5), "entry": entry}


def _map(amap: AttentionMap, exemplars: set[int] | None, show_source: bool) -> dict[str, Any]:
    """One map; its prediction basis lists only the exemplars in ``exemplars`` (``None``: every one)."""
    basis = [
        b
        for b in amap.basis.all()
        if b.kind == PredictionBasis.Kind.TOP and (exemplars is None or b.entry_id in exemplars)
    ]
    return {
        "id": amap.pk,
        "index": amap.index,
        "label": amap.label,
        "arch": amap.arch,
        "probability": amap.probability,
        "area_percent": amap.area_percent,
        "map_url": reverse("attentionmap-map", args=[amap.pk]),
        "overlay_url": reverse("attentionmap-overlay", args=[amap.pk]),
        "basis": [_entry(b, show_source) for b in basis],
    }


def review_document(series: Series, user, version_id: int | None = None) -> dict[str, Any]:
    """Predictions of ``series`` by the chosen (default: active) model, with maps and prediction basis.

    The prediction basis is cut to the exemplars ``user`` may see, and names their source only to leads
    (``access.visible_exemplars``).
    """
    doc: dict[str, Any] = {
        "series": _series_part(series),
        "models": [
            {"id": v.pk, "name": v.name, "is_active": v.is_active}
            for v in ModelVersion.objects.filter(jobs__series=series).distinct()
        ],
        "job": None,
    }
    job = _job(series, version_id)
    if job is None:
        return doc
    version = job.model_version
    doc["model"] = {
        "id": version.pk,
        "name": version.name,
        "archs": version.archs,
        "is_active": version.is_active,
    }
    doc["job"] = {
        "id": job.pk,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "finished_at": job.finished_at,
        "url": reverse("inferencejob-detail", args=[job.pk]),
    }
    if job.status == Stage.SUCCEEDED:
        doc.update(_results_part(job, user))
        if access.can_manage(user):
            doc["exports"] = _exports(series, job)
    return doc


def _exports(series: Series, job: InferenceJob) -> list[dict[str, str]]:
    """The DICOM downloads of the page (ichweb.interop.export_api; named routes, so no import of interop)."""
    links = [
        {"label": "Model findings (SR)", "url": reverse("export-job-findings", args=[job.pk])},
    ]
    if job.attention_maps.exists():
        links.append(
            {"label": "Attention segmentation (SEG)", "url": reverse("export-job-seg", args=[job.pk])}
        )
    if GroundTruth.objects.filter(case__series=series).exists():
        links.insert(
            0, {"label": "Ground truth (SR)", "url": reverse("export-series-ground-truth", args=[series.pk])}
        )
    return links


def _series_part(series: Series) -> dict[str, Any]:
    slices = series.slices.order_by("index").values("id", "index")
    return {
        "id": series.pk,
        "study": series.study_id,
        "n_slices": series.n_slices,
        "rows": series.rows,
        "columns": series.columns,
        "slices": [
            {"index": s["index"], "id": s["id"], "image_url": reverse("slice-image", args=[s["id"]])}
            for s in slices
        ],
    }


def _results_part(job: InferenceJob, user: Any) -> dict[str, Any]:
    """A finished job's labels, thresholds, case calls, slice probabilities and maps, as ``user`` may see."""
    version = job.model_version
    labels = list(version.label_order)
    show_source = access.sees_exemplar_sources(user)
    exemplars = (
        None
        if show_source
        else set(access.visible_exemplars(user).filter(model_version=version).values_list("pk", flat=True))
    )
    return {
        "labels": labels,
        "thresholds": job.thresholds,
        "case": {
            label: {"probability": job.case_probabilities.get(label), "positive": job.positive.get(label)}
            for label in labels
        },
        "slice_probabilities": [p.probabilities for p in job.slice_predictions.order_by("index")],
        "maps": [
            _map(m, exemplars, show_source)
            for m in job.attention_maps.order_by("index", "label").prefetch_related("basis__entry")
        ],
    }
