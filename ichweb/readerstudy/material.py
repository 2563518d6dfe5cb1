"""Localisation and questionnaire material: the slices shown, frozen with the model output on them.

Per case whose ground truth is ICH, the study takes the ``slices_per_case`` slices with the highest
probability of its ``material_label`` among the slices that have an attention map of that label and are
model-positive (probability at the job's threshold or above). Each becomes a ``LocalisationItem`` with a
copy of the map and its overlay and the four questionnaire candidates of the map (lowest distance, two
from the middle of the ranking, highest).
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
from ichweb.readerstudy.models import Candidate, LocalisationItem, LocalisationMark, ReaderStudy, StudyCase
from ichweb.readerstudy.truth import case_truths


class MaterialLocked(Conflict):
    """The material cannot change once a participant has marked points on it."""


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
