"""Fixtures of the reader-study tests: a phantom cohort with ground truth, synthetic model output on it
(distinctive numbers and images, so that a leak is easy to spot) and a study with two participants."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from ichweb.imaging.models import Series
from ichweb.labeling.models import Case as LabelingCase
from ichweb.modeling.models import AtlasEntry, AttentionMap, InferenceJob, ModelVersion, PredictionBasis
from ichweb.readerstudy import access, services
from ichweb.readerstudy.models import CaseRead, ReaderStudy
from ml.labels import LABELS
from tests.accounts.factories import UserFactory
from tests.modeling.conftest import gt_phantom_dir, import_with_truth  # noqa: F401 -- session phantoms
from tests.modeling.factories import (
    AtlasEntryFactory,
    AttentionMapFactory,
    InferenceJobFactory,
    ModelVersionFactory,
    PredictionBasisFactory,
    predictions_on,
)
from tests.readerstudy.factories import ReaderStudyFactory

#: The attention map: 255 in a disc of this radius around the centre, 40 (below 20 % of 255) in a ring.
MAP_CENTRE = (32.0, 32.0)
MAP_RADIUS = 10
#: Distinctive model numbers: any of them in a participant's response is a leak.
PROB_BEST, PROB_SECOND, PROB_LOW, PROB_OTHER_LABEL = 0.731913, 0.617283, 0.404217, 0.991357
CASE_PROB = 0.864213
DISTANCES = {1: 0.104179, 4: 0.404179, 5: 0.504179, 8: 0.804179}
SENTINEL_NUMBERS = (PROB_BEST, PROB_SECOND, PROB_LOW, PROB_OTHER_LABEL, CASE_PROB, *DISTANCES.values())
#: The slice the study must choose per ICH case: the highest positive "ANY" map.
BEST_SLICE = 5


@pytest.fixture
def rita(db):
    """rita, a second reader-study participant."""
    return UserFactory(username="rita", roles=("reader",))


@pytest.fixture
def ralph(db):
    """ralph, a reader who takes part in no study."""
    return UserFactory(username="ralph", roles=("reader",))


def png(array: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def disc_map(rows: int, columns: int) -> np.ndarray:
    yy, xx = np.mgrid[0:rows, 0:columns]
    distance = np.hypot(xx - MAP_CENTRE[0], yy - MAP_CENTRE[1])
    out = np.zeros((rows, columns), np.uint8)
    out[distance <= MAP_RADIUS + 4] = 40
    out[distance <= MAP_RADIUS] = 255
    return out


@dataclass(frozen=True)
class Material:
    version: ModelVersion
    #: Every model-output image (maps, overlays, atlas exemplars): never in a participant's answer, except
    #: the questionnaire's own.
    images: tuple[bytes, ...]


def _atlas(version: ModelVersion) -> list[AtlasEntry]:
    folder = version.atlas_folder / "images"
    folder.mkdir(parents=True)
    entries = []
    for i in range(8):
        for kind, value in (("patch", 20 + i), ("map", 120 + i)):
            (folder / f"{i:05d}_{kind}.png").write_bytes(png(np.full((16, 16), value, np.uint8)))
        entries.append(AtlasEntryFactory(model_version=version, index=i))
    return entries


def _write_map(job: InferenceJob, series: Series, index: int, label: str, probability: float) -> AttentionMap:
    folder = Path(settings.MEDIA_ROOT) / "predictions" / str(job.pk)
    folder.mkdir(parents=True, exist_ok=True)
    grey = disc_map(series.rows, series.columns)
    name = f"map_{index:04d}_{label}.png"
    (folder / name).write_bytes(png(grey))
    rgba = np.dstack([grey, np.zeros_like(grey), 255 - grey, grey])
    (folder / name.replace("map_", "overlay_")).write_bytes(png(rgba, "RGBA"))
    return AttentionMapFactory(
        job=job, slice=series.slices.get(index=index), label=label, probability=probability
    )


def make_material(series_list: list[Series]) -> Material:
    """A model version with an 8-entry atlas and, on every series, "ANY" maps on slices 2 (positive),
    5 (positive, the most probable) and 1 (below the threshold) and an IPH map on slice 6."""
    version = ModelVersionFactory(name="Sentinel model", directory="runs/sentinel", thresholds={"ANY": 0.5})
    entries = _atlas(version)
    for series in series_list:
        job = InferenceJobFactory(
            series=series,
            model_version=version,
            case_probabilities={"ANY": CASE_PROB},
            positive={"ANY": True},
            thresholds={"ANY": 0.5, "IPH": 0.5},
        )
        predictions_on(job, [PROB_LOW] * len(LABELS))
        maps = [
            _write_map(job, series, 2, "ANY", PROB_SECOND),
            _write_map(job, series, BEST_SLICE, "ANY", PROB_BEST),
            _write_map(job, series, 1, "ANY", PROB_LOW),
            _write_map(job, series, 6, "IPH", PROB_OTHER_LABEL),
        ]
        for amap in maps:
            for kind, ranks in (
                (PredictionBasis.Kind.CANDIDATE, (1, 4, 5, 8)),
                (PredictionBasis.Kind.TOP, (1,)),
            ):
                for rank in ranks:
                    PredictionBasisFactory(
                        attention_map=amap,
                        kind=kind,
                        rank=rank,
                        entry=entries[rank - 1],
                        distance=DISTANCES[rank],
                    )
    media = Path(settings.MEDIA_ROOT)
    files = [*(media / "predictions").rglob("*.png"), *(version.atlas_folder / "images").glob("*.png")]
    return Material(version, tuple(p.read_bytes() for p in files))


@pytest.fixture
def truth_cases(gt_phantom_dir, alice) -> list[LabelingCase]:  # noqa: F811
    """The six phantom studies with imported ground truth, as labeling cases."""
    import_with_truth(gt_phantom_dir, alice)
    return list(LabelingCase.objects.select_related("series").order_by("position"))


@pytest.fixture
def model_material(truth_cases) -> Material:
    return make_material([c.series for c in truth_cases])


@pytest.fixture
def study(alice, carol, rita, truth_cases, model_material) -> ReaderStudy:
    """A locked-answers study of the six cases, carol and rita taking part and merging points."""
    return ReaderStudyFactory(
        lead=alice,
        name="Retrospective readers",
        cases=truth_cases,
        participants=[carol, rita],
        consensus=[carol, rita],
        model_version=model_material.version,
    )


def read_all(study: ReaderStudy, user, confidence: int = 80, *, call=None, limit: int | None = None) -> None:
    """Submit ``user``'s reads not submitted yet (``call(case) -> bool``, default: ICH everywhere)."""
    done = set(
        CaseRead.objects.filter(participant=user, submitted_at__isnull=False).values_list(
            "case_id", flat=True
        )
    )
    for case in services.ordered_cases(study, user)[:limit]:
        if case.pk in done:
            continue
        ich = True if call is None else call(case)
        services.submit_read(case, user, ich=ich, subtypes=["IPH"] if ich else [], confidence=confidence)


def localise_all(study: ReaderStudy, user, points=None) -> None:
    for item in services.ordered_items(study, user):
        services.submit_points(item, user, points if points is not None else [list(MAP_CENTRE)])


def answer_all(study: ReaderStudy, user, letter_of=None) -> None:
    """Answer every questionnaire item (``letter_of(options) -> letter``, default: the model's choice)."""
    for item in access.questionnaire_items(study):
        options = services.options(study, user, item)
        letter = letter_of(options) if letter_of else min(options, key=lambda o: o[1].rank)[0]
        services.submit_answer(item, user, letter)


@pytest.fixture
def sequential_study(alice, carol, rita, truth_cases, model_material) -> ReaderStudy:
    """A sequential study of the six cases (each read unaided, then aided), carol and rita taking part."""
    return ReaderStudyFactory(
        lead=alice,
        name="Sequential readers",
        cases=truth_cases,
        participants=[carol, rita],
        model_version=model_material.version,
        design="sequential",
    )


@pytest.fixture
def crossover_study(alice, carol, rita, truth_cases, model_material) -> ReaderStudy:
    """A crossover study of the six cases with a washout of 14 days, carol and rita taking part."""
    return ReaderStudyFactory(
        lead=alice,
        name="Crossover readers",
        cases=truth_cases,
        participants=[carol, rita],
        model_version=model_material.version,
        design="crossover",
        washout_days=14,
    )


def read_both(study: ReaderStudy, user, *, unaided=None, aided=None, limit: int | None = None) -> None:
    """Sequential: per case in ``user``'s order, the unaided read, then the aided read opened and submitted.

    ``unaided(case) -> (ich, confidence)`` and ``aided(case) -> (ich, confidence)``; default: ICH with 60,
    then ICH with 90.
    """
    done = set(
        CaseRead.objects.filter(participant=user, submitted_at__isnull=False).values_list(
            "case_id", "modality"
        )
    )
    for case in services.ordered_cases(study, user)[:limit]:
        ich, confidence = unaided(case) if unaided else (True, 60)
        if (case.pk, "unaided") not in done:
            services.submit_read(case, user, ich=ich, subtypes=[], confidence=confidence)
        if (case.pk, "aided") in done:
            continue
        services.open_read(case, user, "aided")
        ich, confidence = aided(case) if aided else (True, 90)
        services.submit_read(case, user, ich=ich, subtypes=[], confidence=confidence, modality="aided")
