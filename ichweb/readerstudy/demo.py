"""Demo data for `make run`: a sequential reader study of the demo cohort, read by synthetic readers.

The study ("Demo: reading with and without the model") takes every demo case with ground truth, the
active model version and the sequential design. Five synthetic readers (``DEMO_READERS``: the reader role,
no usable password, so nobody signs in as them) have read every case unaided and then aided; carol takes
part too, with nothing read yet, so that she can try the aided read once the model has predicted the
demo studies. The results page and the dashboards' MRMC panel show the comparison at once.

The synthetic reads are drawn from a generator seeded by ``DEMO_SEED`` (``synthetic_read``): a latent
score per reader and case, the case's truth shifting it up (more so aided), a case difficulty shared by
every reader and both modalities, reader noise (less of it aided); the call is the latent score above a
reader's cut-off, the confidence grows with the distance from it, and aided reads take a little less time.
The same cohort gives the same reads on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ichweb.accounts.roles import Role
from ichweb.labeling.models import SUBTYPE_FIELDS, GroundTruthSlice, SubtypeFlags
from ichweb.labeling.models import Case as LabelingCase
from ichweb.modeling.models import ModelVersion
from ichweb.readerstudy import services
from ichweb.readerstudy.models import CaseRead, Design, ReaderStudy, StudyCase
from ichweb.readerstudy.plan import AIDED, UNAIDED
from ichweb.readerstudy.truth import Truth, case_truths

STUDY_NAME = "Demo: reading with and without the model"
DEMO_READERS = ("reader1", "reader2", "reader3", "reader4", "reader5")
DEMO_SEED = 2026
#: Per modality: the truth's shift of the latent score, the reader noise, the median reading time (s).
SHIFT = {UNAIDED: 1.0, AIDED: 2.0}
NOISE = {UNAIDED: 0.9, AIDED: 0.6}
SECONDS = {UNAIDED: 75.0, AIDED: 55.0}
#: The weight of a case's difficulty (shared by every reader and both modalities) in the latent score.
DIFFICULTY = 0.8


@dataclass(frozen=True)
class SyntheticRead:
    ich: bool
    confidence: int
    seconds: float


def synthetic_read(
    rng: np.random.Generator, truth: bool, modality: str, difficulty: float, cut: float
) -> SyntheticRead:
    """One synthetic read (module docstring); ``rng`` is the reader's generator, drawn from in case order."""
    latent = SHIFT[modality] * truth + DIFFICULTY * difficulty + rng.normal(0.0, NOISE[modality])
    confidence = int(np.clip(round(10 + 35 * abs(latent - cut)), 0, 100))
    seconds = float(round(SECONDS[modality] * np.exp(rng.normal(0.0, 0.3)), 1))
    return SyntheticRead(bool(latent > cut), confidence, seconds)


def demo_readers() -> list[Any]:
    """The synthetic readers (created the first time, without a usable password)."""
    users = []
    for name in DEMO_READERS:
        user, created = get_user_model().objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.add(Group.objects.get(name=Role.READER))
        users.append(user)
    return users


def synthetic_reads(study: ReaderStudy, readers: list[Any]) -> list[CaseRead]:
    """Submitted unaided and aided reads of every case by every reader in ``readers`` (module docstring)."""
    cases = list(study.cases.order_by("position"))
    truths = case_truths(cases)
    difficulty = np.random.default_rng(DEMO_SEED).normal(0.0, 1.0, len(cases))
    now = timezone.now()
    rows = []
    for j, user in enumerate(readers):
        rng = np.random.default_rng([DEMO_SEED, j])
        cut = 0.6 + 0.2 * rng.normal()
        for case, d in zip(cases, difficulty, strict=True):
            for step, modality in enumerate((UNAIDED, AIDED)):
                truth = truths[case.pk]
                read = synthetic_read(rng, truth.ich, modality, float(d), cut + 0.4 * step)
                rows.append(_row(case, user, modality, read, truth, now - timedelta(hours=2 - step)))
    return CaseRead.objects.bulk_create(rows)


def _row(case: StudyCase, user: Any, modality: str, read: SyntheticRead, truth: Truth, at: Any) -> CaseRead:
    flags = SubtypeFlags.flags(truth.subtypes if read.ich and truth.ich else ())
    return CaseRead(
        case=case,
        participant=user,
        modality=modality,
        session=1,
        ich=read.ich,
        confidence=read.confidence,
        reading_seconds=read.seconds,
        opened_at=at,
        last_beat_at=at,
        submitted_at=at,
        **flags,
    )


def seed(stdout: Any) -> None:
    """Create the demo study and its synthetic reads, unless a reader study exists."""
    if ReaderStudy.objects.exists():
        stdout.write("Reader-study demo: studies already present.")
        return
    users = get_user_model().objects
    lead, carol = users.filter(username="alice").first(), users.filter(username="carol").first()
    cases = list(services.eligible_cases().order_by("project", "position"))
    version = ModelVersion.objects.active() or ModelVersion.objects.order_by("-pk").first()
    positives = _positive_cases(cases)
    if lead is None or carol is None or version is None or not 0 < len(positives) < len(cases):
        stdout.write("Reader-study demo: skipped (needs the demo users, a model and cases of both classes).")
        return
    with transaction.atomic():
        study, _ = services.create_study(
            lead=lead,
            name=STUDY_NAME,
            cohort_name="Demo phantoms",
            description="Each case read unaided, then at once with the model's output (synthetic readers).",
            cases=cases,
            participants=[carol, *demo_readers()],
            model_version=version,
            design=Design.SEQUENTIAL,
        )
        reads = synthetic_reads(study, list(study.participants.exclude(pk=carol.pk).order_by("username")))
    stdout.write(
        f"Reader-study demo: '{study.name}' with {len(cases)} cases and {len(reads)} synthetic reads "
        f"by {', '.join(DEMO_READERS)}; carol can read it too."
    )


def _positive_cases(cases: list[LabelingCase]) -> set[int]:
    """The ids of the labeling cases whose ground truth has ICH on some slice."""
    any_subtype = Q()
    for name in SUBTYPE_FIELDS:
        any_subtype |= Q(**{name: True})
    rows = GroundTruthSlice.objects.filter(any_subtype, ground_truth__case__in=cases)
    return set(rows.values_list("ground_truth__case_id", flat=True))
