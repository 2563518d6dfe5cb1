"""Inference jobs: a model version on one series -> slice and case probabilities, maps, prediction basis.

One job per (series, model version): requesting it again resets that row and replaces its results, so a
series never has two result sets of one model. New series get a job of the active model automatically
(``on_series_imported``). Like training steps, a job carries a dispatch ``attempt`` and is idempotent.
"""

from __future__ import annotations

import io
import logging
import math
import shutil
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ichweb import dispatch
from ichweb.imaging.models import Series
from ichweb.modeling.models import (
    AtlasEntry,
    AttentionMap,
    InferenceJob,
    ModelVersion,
    PredictionBasis,
    SlicePrediction,
    Stage,
    being_worked_on,
)

log = logging.getLogger(__name__)


def request_inference(
    series: Series, version: ModelVersion | None = None, *, user=None
) -> InferenceJob | None:
    """Queue (or re-queue, replacing its results) the job of ``version`` (default: the active model)."""
    version = version or ModelVersion.objects.active()
    if version is None:
        return None
    with transaction.atomic():
        job, _ = InferenceJob.objects.select_for_update().get_or_create(series=series, model_version=version)
        job.slice_predictions.all().delete()
        job.attention_maps.all().delete()
        shutil.rmtree(job.folder, ignore_errors=True)
        job.status, job.progress, job.message, job.error = Stage.QUEUED, 0.0, "waiting for a gpu worker", ""
        job.case_probabilities, job.positive, job.thresholds, job.timings = {}, {}, {}, {}
        job.started_at = job.finished_at = None
        job.requested_by = user
        job.save()
        dispatch.inference(job)
    return job


def predict_all(version: ModelVersion, *, user=None) -> int:
    """Queue ``version`` on every standard series it has not predicted yet; returns how many."""
    done = InferenceJob.objects.filter(model_version=version).values("series_id")
    todo = Series.objects.filter(kind=Series.Kind.STANDARD).exclude(pk__in=done)
    n = 0
    for series in todo:
        request_inference(series, version, user=user)
        n += 1
    return n


def on_series_imported(sender: Any, series_ids: list[int], **kwargs: Any) -> None:
    """Signal receiver: the active model predicts every new standard series."""
    if ModelVersion.objects.active() is None:
        return
    for series in Series.objects.filter(pk__in=series_ids, kind=Series.Kind.STANDARD):
        request_inference(series)


@lru_cache(maxsize=2)
def _load(version_id: int, directory: str) -> tuple[Any, Any]:
    """The bundle and atlas of a version, kept per worker process (a version's files never change)."""
    from ml.atlas import load_atlas
    from ml.bundle import load_bundle

    version = ModelVersion.objects.get(pk=version_id)
    bundle = load_bundle(version.bundle_folder)
    folder = version.atlas_folder
    atlas = load_atlas(folder) if (folder / "atlas.json").exists() else None
    return bundle, atlas


def _claim(job_id: int, attempt: int, owner: str) -> InferenceJob | None:
    with transaction.atomic():
        job = InferenceJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.attempt != attempt or job.finished or being_worked_on(job):
            return None
        job.status, job.started_at, job.heartbeat_at = Stage.RUNNING, timezone.now(), timezone.now()
        job.owner = owner
        job.save(update_fields=["status", "started_at", "heartbeat_at", "owner"])
        return job


def _progress(job: InferenceJob, fraction: float, message: str) -> None:
    InferenceJob.objects.filter(pk=job.pk, attempt=job.attempt).update(
        progress=round(fraction, 3), message=message[:200], heartbeat_at=timezone.now()
    )


def map_slices(
    slices: np.ndarray, thresholds: dict[str, float | None], labels: list[str]
) -> list[tuple[int, str]]:
    """The (slice, label) pairs that get an attention map: slices predicted positive for a label.

    A label counts where its slice probability reaches the label's threshold (none: not mapped); at most
    ``ICHWEB_MAX_MAPS_PER_JOB`` pairs, the most probable first. The "any ICH" map of the case's most
    probable slice is always among them, so every call, negative ones too, can be reviewed.
    """
    pairs: list[tuple[float, int, str]] = []
    for c, label in enumerate(labels):
        t = thresholds.get(label)
        if t is None:
            continue
        for zi in np.flatnonzero(slices[:, c] >= t):
            pairs.append((float(slices[zi, c]), int(zi), label))
    pairs.sort(key=lambda item: -item[0])
    chosen = pairs[: settings.ICHWEB_MAX_MAPS_PER_JOB]
    if "ANY" in labels and len(slices):
        # Always explained, positive or negative call: "any ICH" on the most suspicious slice.
        z = int(np.argmax(slices[:, labels.index("ANY")]))
        top = (float(slices[z, labels.index("ANY")]), z, "ANY")
        if all((zz, ll) != (z, "ANY") for _, zz, ll in chosen):
            chosen = [*chosen[: max(settings.ICHWEB_MAX_MAPS_PER_JOB - 1, 0)], top]
    return sorted((z, label) for _, z, label in chosen)


def run_job(job_id: int, attempt: int, owner: str = "") -> str:
    """Predict, explain and store (called by the gpu task on worker ``owner``); returns the final status."""
    job = _claim(job_id, attempt, owner)
    if job is None:
        return "stale"
    try:
        _run(job)
    except Exception as exc:
        log.exception("inference job %s failed", job_id)
        InferenceJob.objects.filter(pk=job.pk, attempt=attempt).update(
            status=Stage.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        return "failed"
    return "succeeded"


def _run(job: InferenceJob) -> None:
    """Predict the series, explain its positive slices, then store everything in one transaction."""
    from ml.infer import predict_bundle

    version = job.model_version
    bundle, atlas = _load(version.pk, version.directory)
    device = settings.ICHWEB_TRAIN_DEVICE or None
    hu = np.asarray(job.series.volume())
    _progress(job, 0.05, f"predicting {len(hu)} slices")
    result = predict_bundle(bundle, hu, device=device)
    pairs = map_slices(result.slices, bundle.thresholds, list(bundle.label_order))
    _progress(job, 0.5, f"attention maps for {len(pairs)} slice labels")
    explained = _explain(bundle, hu, pairs, atlas, version.explain_arch or None, device, result.head)
    _store(job, bundle, result, explained)


def _store(job: InferenceJob, bundle: Any, result: Any, explained: list[Any]) -> None:
    """Replace the job's results: slice probabilities, maps (rows and PNGs), prediction basis, case call.

    Under the job's row lock, and only if this delivery is still the job's current attempt: a job sent again
    meanwhile owns its results (and its folder).
    """
    slices = {s.index: s for s in job.series.slices.all()}
    with transaction.atomic():
        row = InferenceJob.objects.select_for_update().get(pk=job.pk)
        if row.attempt != job.attempt:
            return
        shutil.rmtree(row.folder, ignore_errors=True)
        row.folder.mkdir(parents=True)
        _store_slice_predictions(row, result, slices)
        arch = arch_of(explained_by=row.model_version, bundle=bundle)
        entries = {e.index: e for e in AtlasEntry.objects.filter(model_version=row.model_version)}
        labels = list(bundle.label_order)
        for item in explained:
            probability = float(result.slices[item.slice_index, labels.index(item.label)])
            amap = _store_map(row, item, slices[item.slice_index], arch, probability)
            _store_basis(amap, item, entries)
        row.case_probabilities = {label: round(float(result.case[c]), 6) for c, label in enumerate(labels)}
        row.positive = dict(result.positive)
        row.thresholds = dict(result.thresholds)
        row.timings = {k: round(v, 4) for k, v in result.timings.items()}
        row.status, row.progress, row.finished_at = Stage.SUCCEEDED, 1.0, timezone.now()
        row.message = f"{len(slices)} slices, {len(explained)} attention maps"
        row.save()


def _store_slice_predictions(job: InferenceJob, result: Any, slices: dict[int, Any]) -> None:
    SlicePrediction.objects.bulk_create(
        SlicePrediction(
            job=job,
            slice=slices[z],
            index=z,
            probabilities=[round(float(p), 6) for p in result.slices[z]],
            per_net={a: [round(float(p), 6) for p in v[z]] for a, v in result.per_net.items()},
        )
        for z in range(len(result.slices))
    )


def _store_map(job: InferenceJob, item: Any, slice_: Any, arch: str, probability: float) -> AttentionMap:
    """One explained (slice, label): its row, the map as a grey PNG and as an RGBA overlay."""
    from ml.render import map_png

    name = AttentionMap.file_name(item.slice_index, item.label)
    amap = AttentionMap.objects.create(
        job=job,
        slice=slice_,
        index=item.slice_index,
        label=item.label,
        arch=arch,
        probability=probability,
        max_value=float(item.raw_max),
        area_percent=None if math.isnan(item.area_percent) else float(item.area_percent),
        file=str((job.folder / name).relative_to(settings.MEDIA_ROOT)),
    )
    amap.path.write_bytes(map_png(item.map))
    amap.overlay_path.write_bytes(overlay_png(item.map))
    return amap


def _store_basis(amap: AttentionMap, item: Any, entries: dict[int, AtlasEntry]) -> None:
    """The map's prediction basis (top exemplars) and the candidates it was chosen from."""
    basis = [(PredictionBasis.Kind.TOP, b) for b in item.basis]
    basis += [(PredictionBasis.Kind.CANDIDATE, b) for b in item.candidates]
    PredictionBasis.objects.bulk_create(
        PredictionBasis(
            attention_map=amap, kind=kind, rank=b.position, entry=entries[b.entry], distance=b.distance
        )
        for kind, b in basis
        if b.entry in entries
    )


def overlay_png(map_: np.ndarray, cmap: str = "inferno") -> bytes:
    """The map as RGBA for laying over the slice in the browser: colour ``cmap(m)``, opacity ``m``.

    Weak attention stays see-through, so the page's opacity slider scales a map that never hides anatomy.
    """
    from PIL import Image

    from ml.render import colour_lut

    values = np.round(np.clip(np.nan_to_num(np.asarray(map_, np.float32)), 0, 1) * 255).astype(np.uint8)
    rgba = np.dstack([colour_lut(cmap)[values], values])
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def arch_of(*, explained_by: ModelVersion, bundle: Any) -> str:
    from ml.explain import default_arch

    return explained_by.explain_arch or default_arch(bundle)


def _explain(
    bundle: Any,
    hu: np.ndarray,
    pairs: list[tuple[int, str]],
    atlas: Any,
    arch: str | None,
    device: str | None,
    head: Any = None,
) -> list[Any]:
    """Maps and prediction basis of the chosen (slice, label) pairs, one ``explain_case`` call per label.

    ``head`` is the head box the prediction cropped the case to, so that it is found once per series.
    """
    from ml.explain import explain_case

    by_label: dict[str, list[int]] = {}
    for z, label in pairs:
        by_label.setdefault(label, []).append(z)
    items: list[Any] = []
    for label, slices in by_label.items():
        result = explain_case(
            bundle,
            hu,
            slices=slices,
            labels=[label],
            atlas=atlas,
            arch=arch,
            device=device,
            top_k=settings.ICHWEB_BASIS_TOP_K,
            head=head,
        )
        items.extend(result)
    return sorted(items, key=lambda item: (item.slice_index, item.label))
