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
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

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
from ichweb.modeling.training import active_model, atlas_dir, bundle_dir

log = logging.getLogger(__name__)


def job_dir(job: InferenceJob) -> Path:
    return Path(settings.MEDIA_ROOT) / "predictions" / str(job.pk)


def request_inference(
    series: Series, version: ModelVersion | None = None, *, user=None
) -> InferenceJob | None:
    """Queue (or re-queue, replacing its results) the job of ``version`` (default: the active model)."""
    version = version or active_model()
    if version is None:
        return None
    with transaction.atomic():
        job, _ = InferenceJob.objects.select_for_update().get_or_create(series=series, model_version=version)
        job.slice_predictions.all().delete()
        job.attention_maps.all().delete()
        shutil.rmtree(job_dir(job), ignore_errors=True)
        job.status, job.progress, job.message, job.error = Stage.QUEUED, 0.0, "waiting for a gpu worker", ""
        job.case_probabilities, job.positive, job.thresholds, job.timings = {}, {}, {}, {}
        job.started_at = job.finished_at = None
        job.requested_by = user
        job.save()
        dispatch(job)
    return job


def dispatch(job: InferenceJob) -> None:
    from ichweb.modeling import tasks

    job_id, attempt = job.pk, job.next_attempt()
    transaction.on_commit(
        lambda: tasks.run_inference.apply_async(
            kwargs={"job_id": job_id, "attempt": attempt}, queue=settings.ICHWEB_GPU_QUEUE
        )
    )


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
    if active_model() is None:
        return
    for series in Series.objects.filter(pk__in=series_ids, kind=Series.Kind.STANDARD):
        request_inference(series)


@lru_cache(maxsize=2)
def _load(version_id: int, directory: str) -> tuple[Any, Any]:
    """The bundle and atlas of a version, kept per worker process (a version's files never change)."""
    from ml.atlas import load_atlas
    from ml.bundle import load_bundle

    version = ModelVersion.objects.get(pk=version_id)
    bundle = load_bundle(bundle_dir(version))
    folder = atlas_dir(version)
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
        for z in np.flatnonzero(slices[:, c] >= t):
            pairs.append((float(slices[z, c]), int(z), label))
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
    from ml.infer import predict_bundle
    from ml.render import map_png

    version = job.model_version
    bundle, atlas = _load(version.pk, version.directory)
    device = settings.ICHWEB_TRAIN_DEVICE or None
    hu = np.asarray(job.series.volume())
    _progress(job, 0.05, f"predicting {len(hu)} slices")
    result = predict_bundle(bundle, hu, device=device)
    labels = list(bundle.label_order)
    pairs = map_slices(result.slices, bundle.thresholds, labels)
    _progress(job, 0.5, f"attention maps for {len(pairs)} slice labels")
    explained = _explain(bundle, hu, pairs, atlas, version.explain_arch or None, device)
    slices = {s.index: s for s in job.series.slices.all()}
    entries = {e.index: e for e in AtlasEntry.objects.filter(model_version=version)}
    with transaction.atomic():
        row = InferenceJob.objects.select_for_update().get(pk=job.pk)
        if row.attempt != job.attempt:
            return  # sent again meanwhile: that delivery owns the results (and the folder)
        folder = job_dir(job)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        SlicePrediction.objects.bulk_create(
            SlicePrediction(
                job=row,
                slice=slices[z],
                index=z,
                probabilities=[round(float(p), 6) for p in result.slices[z]],
                per_net={a: [round(float(p), 6) for p in v[z]] for a, v in result.per_net.items()},
            )
            for z in range(len(hu))
        )
        for item in explained:
            name = AttentionMap.file_name(item.slice_index, item.label)
            amap = AttentionMap.objects.create(
                job=row,
                slice=slices[item.slice_index],
                index=item.slice_index,
                label=item.label,
                arch=arch_of(explained_by=version, bundle=bundle),
                probability=float(result.slices[item.slice_index, labels.index(item.label)]),
                max_value=float(item.raw_max),
                area_percent=None if math.isnan(item.area_percent) else float(item.area_percent),
                file=str((folder / name).relative_to(settings.MEDIA_ROOT)),
            )
            amap.path.write_bytes(map_png(item.map))
            amap.overlay_path.write_bytes(overlay_png(item.map))
            basis = [(PredictionBasis.Kind.TOP, b) for b in item.basis]
            basis += [(PredictionBasis.Kind.CANDIDATE, b) for b in item.candidates]
            PredictionBasis.objects.bulk_create(
                PredictionBasis(
                    attention_map=amap,
                    kind=kind,
                    rank=b.position,
                    entry=entries[b.entry],
                    distance=b.distance,
                )
                for kind, b in basis
                if b.entry in entries
            )
        row.case_probabilities = {label: round(float(result.case[c]), 6) for c, label in enumerate(labels)}
        row.positive = dict(result.positive)
        row.thresholds = dict(result.thresholds)
        row.timings = {k: round(v, 4) for k, v in result.timings.items()}
        row.status, row.progress, row.finished_at = Stage.SUCCEEDED, 1.0, timezone.now()
        row.message = f"{len(hu)} slices, {len(explained)} attention maps"
        row.save()


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
) -> list[Any]:
    """Maps and prediction basis of the chosen (slice, label) pairs, one ``explain_case`` call per label."""
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
        )
        items.extend(result)
    return sorted(items, key=lambda item: (item.slice_index, item.label))
