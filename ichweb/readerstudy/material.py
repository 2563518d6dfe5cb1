"""Localisation and questionnaire material: the slices shown, frozen with the model output on them.

Per case whose ground truth is ICH, the study takes the ``slices_per_case`` slices with the highest
probability of its ``material_label`` among the slices that have an attention map of that label and are
model-positive (probability at the job's threshold or above). Each becomes a ``LocalisationItem`` with a
copy of the map and its overlay and the four questionnaire candidates of the map (lowest distance, two
from the middle of the ranking, highest).

Aided reads (``freeze_aided``): the first time a participant opens the aided read of a case, the study
model's output on it is frozen into ``AidedCase``: case probabilities, thresholds and calls of every label,
the per-slice probability of ``material_label``, and per model-positive slice of that label a copy of its
attention overlay and its closest prediction-basis exemplars. Every later aided read of the case shows the
same material, whatever inference does meanwhile.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from ichweb.errors import Conflict
from ichweb.modeling.models import AttentionMap, InferenceJob, PredictionBasis, Stage
from ichweb.readerstudy.models import (
    AidedCase,
    AidedExemplar,
    AidedSlice,
    Candidate,
    LocalisationItem,
    LocalisationMark,
    ReaderStudy,
    StudyCase,
)
from ichweb.readerstudy.truth import case_truths

#: Prediction-basis exemplars shown per model-positive slice of an aided read (the closest ones).
EXEMPLARS_PER_SLICE = 4


class MaterialLocked(Conflict):
    """The material cannot change once a participant has marked points on it."""


class NotPredicted(Conflict):
    """An aided read cannot open before the study's model has predicted the case."""


@dataclass
class MaterialReport:
    """What ``prepare_material`` found, per reason by case position (1-based), for the lead's page."""

    items: int = 0
    ich_cases: int = 0
    without_inference: list[int] = field(default_factory=list)
    without_positive_map: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "items": self.items,
            "ich_cases": self.ich_cases,
            "without_inference": self.without_inference,
            "without_positive_map": self.without_positive_map,
        }


def study_dir(study: ReaderStudy) -> Path:
    return Path(settings.MEDIA_ROOT) / "readerstudies" / str(study.pk)


def map_path(item: LocalisationItem) -> Path:
    """The item's copy of the attention map (8-bit grey, slice size, 255 = the map's maximum)."""
    return Path(settings.MEDIA_ROOT) / item.map_file


def overlay_path(item: LocalisationItem) -> Path:
    """The item's copy of the colour overlay (RGBA, opacity growing with the map)."""
    return map_path(item).with_name("overlay.png")


def _positive_maps(job: InferenceJob, label: str, k: int) -> list[AttentionMap]:
    threshold = job.thresholds.get(label)
    maps = AttentionMap.objects.filter(job=job, label=label).select_related("slice")
    if threshold is not None:
        maps = maps.filter(probability__gte=threshold)
    return list(maps.order_by("-probability", "index")[:k])


def _copy_map(amap: AttentionMap, folder: Path) -> str:
    folder.mkdir(parents=True)
    shutil.copyfile(amap.path, folder / "map.png")
    shutil.copyfile(amap.overlay_path, folder / "overlay.png")
    return str((folder / "map.png").relative_to(settings.MEDIA_ROOT))


def _freeze(study: ReaderStudy, case: StudyCase, amap: AttentionMap, folder: Path, position: int) -> None:
    """One item: the map's slice, a copy of the map and overlay, the map's questionnaire candidates."""
    item = LocalisationItem.objects.create(
        study=study,
        case=case,
        slice=amap.slice,
        label=amap.label,
        probability=amap.probability,
        map_file=_copy_map(amap, folder / f"slice-{amap.slice_id}"),
        position=position,
    )
    candidates = PredictionBasis.objects.filter(attention_map=amap, kind=PredictionBasis.Kind.CANDIDATE)
    Candidate.objects.bulk_create(
        Candidate(item=item, rank=b.rank, distance=b.distance, entry_id=b.entry_id)
        for b in candidates.order_by("rank")
    )


def _drop_other_folders(study_id: int, keep: str) -> None:
    for folder in (Path(settings.MEDIA_ROOT) / "readerstudies" / str(study_id)).glob("material-*"):
        if folder.name != keep:
            shutil.rmtree(folder, ignore_errors=True)


@transaction.atomic
def prepare_material(study: ReaderStudy) -> MaterialReport:
    """(Re)build the study's localisation items from its model version's inference results.

    Raises:
        MaterialLocked: a participant has already marked points.
    """
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    if LocalisationMark.objects.filter(item__study=study).exists():
        raise MaterialLocked("participants have marked points on this material already: it cannot change")
    study.items.all().delete()
    # New files go to a new folder; the old one goes only once the new rows are committed.
    folder = study_dir(study) / f"material-{uuid.uuid4().hex[:12]}"
    transaction.on_commit(lambda: _drop_other_folders(study.pk, folder.name))
    report = MaterialReport()
    if study.model_version_id is None:
        return report
    cases = list(StudyCase.objects.filter(study=study).order_by("position"))
    truths = case_truths(cases)
    jobs = {
        job.series_id: job
        for job in InferenceJob.objects.filter(
            model_version_id=study.model_version_id,
            series_id__in=[c.series_id for c in cases],
            status=Stage.SUCCEEDED,
        )
    }
    position = 0
    for case in cases:
        if not truths[case.pk].ich:
            continue
        report.ich_cases += 1
        job = jobs.get(case.series_id)
        if job is None:
            report.without_inference.append(case.position + 1)
            continue
        maps = _positive_maps(job, study.material_label, study.slices_per_case)
        if not maps:
            report.without_positive_map.append(case.position + 1)
        for amap in maps:
            _freeze(study, case, amap, folder, position)
            position += 1
    report.items = position
    return report


# --- aided reads ------------------------------------------------------------------------------------------


def aided_overlay_path(aided_slice: AidedSlice) -> Path:
    """The aided slice's copy of the attention overlay (RGBA)."""
    return Path(settings.MEDIA_ROOT) / aided_slice.overlay_file


def _job_of(case: StudyCase) -> InferenceJob:
    job = (
        InferenceJob.objects.filter(
            model_version_id=case.study.model_version_id, series_id=case.series_id, status=Stage.SUCCEEDED
        )
        .select_related("model_version")
        .first()
    )
    if job is None:
        raise NotPredicted(
            "The model has not predicted this case yet, so its aided read cannot open: try again once the "
            "study's model version has results for this series (a lead sees the inference jobs)."
        )
    return job


def _aided_slices(aided: AidedCase, job: InferenceJob, folder: Path) -> None:
    threshold = job.thresholds.get(aided.label)
    maps = AttentionMap.objects.filter(job=job, label=aided.label).order_by("index")
    if threshold is not None:
        maps = maps.filter(probability__gte=threshold)
    number = 0
    for amap in maps:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"overlay-{amap.index}.png"
        shutil.copyfile(amap.overlay_path, target)
        row = AidedSlice.objects.create(
            aided=aided,
            index=amap.index,
            probability=amap.probability,
            overlay_file=str(target.relative_to(settings.MEDIA_ROOT)),
        )
        top = PredictionBasis.objects.filter(attention_map=amap, kind=PredictionBasis.Kind.TOP)
        for basis in top.order_by("rank")[:EXEMPLARS_PER_SLICE]:
            number += 1
            AidedExemplar.objects.create(slice=row, aided=aided, number=number, entry_id=basis.entry_id)


@transaction.atomic
def freeze_aided(case: StudyCase) -> AidedCase:
    """The case's aided material: frozen from the study model's inference job the first time (module doc).

    Raises:
        NotPredicted: the study's model version has no finished inference job of the case's series yet.
    """
    StudyCase.objects.select_for_update().filter(pk=case.pk).first()  # one freeze of a case at a time
    found = AidedCase.objects.filter(case=case).first()
    if found is not None:
        return found
    job = _job_of(case)
    label = case.study.material_label
    labels = list(job.model_version.label_order) or sorted(job.case_probabilities)
    column = labels.index(label) if label in labels else None
    slices = job.slice_predictions.order_by("index").values_list("probabilities", flat=True)
    aided = AidedCase.objects.create(
        case=case,
        label=label,
        labels=labels,
        probabilities={name: job.case_probabilities.get(name) for name in labels},
        thresholds={name: job.thresholds.get(name) for name in labels},
        calls={name: job.positive.get(name) for name in labels},
        slice_probabilities=[] if column is None else [row[column] for row in slices],
    )
    folder = study_dir(case.study) / "aided" / f"case-{case.pk}-{uuid.uuid4().hex[:8]}"
    _aided_slices(aided, job, folder)
    return aided
