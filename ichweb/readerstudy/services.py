"""The work of a reader study: creating and managing it, each participant's order, and their answers.

Who may reach a study, when each task opens, the locks and whether an answer may still change are the
rules of ``ichweb.readerstudy.access``; every write here opens its task and checks its answer there.
Blinding: a participant reaches only their own answers, the cohort's pixels through the study's routes, in an
open aided read the model's output on that case, and, once the localisation task is finished, the
questionnaire's own material.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from ichweb.accounts.roles import Role, has_role
from ichweb.labeling.models import Case as LabelingCase
from ichweb.labeling.models import Project, SubtypeFlags
from ichweb.lib.reading_time import bounded_seconds
from ichweb.modeling.models import ModelVersion
from ichweb.readerstudy import access, material
from ichweb.readerstudy.access import LETTERS, LOCALISATION, QUESTIONNAIRE, READS, Conflict, ReaderStudyError
from ichweb.readerstudy.models import (
    AidedCase,
    Candidate,
    CaseRead,
    CohortKind,
    Design,
    LocalisationItem,
    LocalisationMark,
    MaterialLabel,
    QuestionnaireAnswer,
    ReaderStudy,
    StudyCase,
)
from ichweb.readerstudy.plan import AIDED, UNAIDED, shuffled
from ichweb.readerstudy.plan import ordered_cases as ordered_cases  # the orders live in ``plan``
from ml.labels import ANY

#: The most bleeding points one slice may carry.
MAX_POINTS = 64
#: The longest washout of a crossover study.
MAX_WASHOUT_DAYS = 365


# --- creating and managing --------------------------------------------------------------------------------


def eligible_cases() -> QuerySet[LabelingCase]:
    """Labeling cases with ground truth that is not excluded: what a cohort may be made of."""
    return LabelingCase.objects.filter(ground_truth__isnull=False, ground_truth__excluded=False)


def readers() -> QuerySet[Any]:
    """Users who may take part in a study (the reader role)."""
    return get_user_model().objects.filter(groups__name=Role.READER).distinct().order_by("username")


def cohort_cases(project: Project | None, cases: Sequence[LabelingCase]) -> list[LabelingCase]:
    """The chosen ``cases``, or without them every case of ``project`` with usable ground truth."""
    if cases:
        if project is not None and any(c.project_id != project.pk for c in cases):
            raise ReaderStudyError("some chosen cases are not of the chosen project", field="cases")
        return list(cases)
    if project is None:
        raise ReaderStudyError("choose cases, or a project to take all of its cases", field="cases")
    found = list(eligible_cases().filter(project=project).order_by("position", "pk"))
    if not found:
        raise ReaderStudyError("this project has no cases with usable ground truth", field="project")
    return found


def _check_people(participants: Sequence[Any], consensus: Sequence[Any]) -> None:
    if not participants:
        raise ReaderStudyError("choose at least one participant", field="participants")
    not_readers = sorted(u.get_username() for u in participants if not has_role(u, Role.READER))
    if not_readers:
        raise ReaderStudyError(
            f"participants need the reader role: {', '.join(not_readers)}", field="participants"
        )
    if consensus and (len(set(consensus)) != 2 or not set(consensus) <= set(participants)):
        raise ReaderStudyError("choose two different participants for the consensus", field="consensus")


def _check_cases(cases: Sequence[LabelingCase]) -> None:
    if not cases:
        raise ReaderStudyError("choose at least one case with ground truth", field="cases")
    ids = [c.pk for c in cases]
    usable = set(eligible_cases().filter(pk__in=ids).values_list("pk", flat=True))
    missing = [pk for pk in ids if pk not in usable]
    if missing:
        raise ReaderStudyError(
            f"cases without usable ground truth (none, or excluded): {', '.join(map(str, missing))}",
            field="cases",
        )
    series = [c.series_id for c in cases]
    if len(set(series)) != len(series):
        raise ReaderStudyError("two chosen cases show the same series; choose each series once", "cases")


def _check_design(design: str, washout_days: int, model_version: ModelVersion | None, n_cases: int) -> None:
    if design not in Design.values:
        raise ReaderStudyError(f"choose one of {', '.join(Design.values)}", field="design")
    if design != Design.UNAIDED and model_version is None:
        raise ReaderStudyError(
            f"a {design} study shows the model's output in its aided reads: choose a model version, or "
            "the unaided design",
            field="model_version",
        )
    if design == Design.CROSSOVER and n_cases < 2:
        raise ReaderStudyError(
            "a crossover study reads half of its cases aided in each session: choose at least two cases",
            field="cases",
        )
    if not 0 <= washout_days <= MAX_WASHOUT_DAYS:
        raise ReaderStudyError(
            f"the washout is a whole number of days from 0 to {MAX_WASHOUT_DAYS}", field="washout_days"
        )


@transaction.atomic
def create_study(
    *,
    lead,
    name: str,
    cohort_name: str,
    cases: Sequence[LabelingCase],
    participants: Sequence[Any],
    consensus: Sequence[Any] = (),
    cohort_kind: str = CohortKind.RETROSPECTIVE,
    model_version: ModelVersion | None = None,
    material_label: str = MaterialLabel(ANY),
    slices_per_case: int = 1,
    answers_changeable: bool = False,
    merge_radius_px: float = 10.0,
    description: str = "",
    design: str = Design.UNAIDED,
    washout_days: int = 28,
) -> tuple[ReaderStudy, material.MaterialReport]:
    """Create a study on ``cases`` (their series and ground truth) and prepare its material.

    ``design``: ``unaided`` (the default), ``sequential`` or ``crossover`` (``ichweb.readerstudy.plan``); the
    two aided designs need a ``model_version``, a crossover at least two cases and a ``washout_days``.
    """
    _check_cases(cases)
    _check_people(participants, consensus)
    _check_design(design, washout_days, model_version, len(cases))
    if slices_per_case < 1:
        raise ReaderStudyError("at least one slice per case", field="slices_per_case")
    study = ReaderStudy.objects.create(
        name=name,
        description=description,
        cohort_name=cohort_name,
        cohort_kind=cohort_kind,
        model_version=model_version,
        material_label=material_label,
        slices_per_case=slices_per_case,
        answers_changeable=answers_changeable,
        merge_radius_px=merge_radius_px,
        design=design,
        washout_days=washout_days,
        consensus_first=consensus[0] if consensus else None,
        consensus_second=consensus[1] if consensus else None,
        created_by=lead,
    )
    study.participants.set(participants)
    StudyCase.objects.bulk_create(
        StudyCase(study=study, series_id=c.series_id, source=c, position=i) for i, c in enumerate(cases)
    )
    return study, material.prepare_material(study)


@transaction.atomic
def update_study(study: ReaderStudy, changes: dict[str, Any]) -> ReaderStudy:
    """Apply validated ``changes`` of name, description, ``answers_changeable`` or participants (the two
    consensus participants must stay)."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    participants = changes.pop("participants", None)
    for key, value in changes.items():
        setattr(study, key, value)
    study.save()
    if participants is not None:
        pair = [u for u in (study.consensus_first, study.consensus_second) if u is not None]
        _check_people(participants, pair)
        study.participants.set(participants)
    return study


# --- per-participant order (the case orders: ``ichweb.readerstudy.plan``) --------------------------------


def ordered_items(study: ReaderStudy, user) -> list[LocalisationItem]:
    items = study.items.select_related("case__series", "slice").order_by("position")
    return shuffled(list(items), study.pk, user.pk, "items")


def options(
    study: ReaderStudy, user, item: LocalisationItem, candidates: Sequence[Candidate] | None = None
) -> list[tuple[str, Candidate]]:
    """The item's candidates under the letters a-d, in an order fixed per participant and item.

    ``candidates``: the item's candidates when already loaded (any order), to save the query.
    """
    ranked = sorted(item.candidates.all() if candidates is None else candidates, key=lambda c: c.rank)
    return list(zip(LETTERS, shuffled(ranked, study.pk, user.pk, "options", item.pk), strict=False))


# --- task gates ------------------------------------------------------------------------------------------


def finish_localisation(study: ReaderStudy, user) -> access.Progress:
    """Make ``user``'s bleeding points final (the consensus waits for this where answers are changeable)."""
    state = access.require_localisation_open(study, user)
    if not state.localisation_finished:
        done, total = state.localisation
        raise Conflict(f"Mark every slice first: {done} of {total} slices marked.")
    access.lock(study, user, READS)
    access.lock(study, user, LOCALISATION)
    return state


# --- case reads --------------------------------------------------------------------------------------------


@transaction.atomic
def open_read(case: StudyCase, user, modality: str = UNAIDED) -> tuple[CaseRead, AidedCase | None]:
    """Open ``user``'s read of ``case`` in ``modality`` (``access.require_read_open``): for an aided read the
    model's output is frozen first (``material.freeze_aided``), then the read is recorded as opened, which
    locks the reads before it (``access.read_locked``). Returns the read and the aided material."""
    planned = access.require_read_open(case.study, user, case, modality)
    aided = material.freeze_aided(case) if modality == AIDED else None
    return access.mark_opened(planned, user), aided


@transaction.atomic
def submit_read(
    case: StudyCase, user, *, ich: bool, subtypes: Sequence[str], confidence: int, modality: str = UNAIDED
) -> CaseRead:
    """Record (or, where allowed, change) a participant's read of a case in ``modality``.

    An aided read is opened (its material served) by its first write at the latest.
    """
    if subtypes and not ich:
        raise ReaderStudyError("a subtype was chosen but ICH is marked absent", field="subtypes")
    if modality == AIDED:
        open_read(case, user, AIDED)
    planned = access.require_read_open(case.study, user, case, modality)
    access.read_row(planned, user)
    read = CaseRead.objects.select_for_update().get(case=case, participant=user, modality=modality)
    access.require_change(
        case.study,
        user,
        READS,
        "read",
        submitted=read.submitted_at is not None,
        case=case,
        modality=modality,
    )
    read.ich, read.confidence = ich, confidence
    for key, value in SubtypeFlags.flags(subtypes).items():
        setattr(read, key, value)
    read.submitted_at = read.submitted_at or timezone.now()
    read.save()
    return read


def add_reading_time(case: StudyCase, user, seconds: float, modality: str = UNAIDED) -> None:
    """Count a heartbeat of reading time of the read in ``modality`` (each arm has its own clock), bounded as
    ``ichweb.lib.reading_time.bounded_seconds`` says (60 s, and the wall time since the last beat).

    Time counts while the read can still be answered (``access.can_change``); the read must be open.
    """
    now = timezone.now()
    with transaction.atomic():
        planned = access.require_read_open(case.study, user, case, modality)
        access.read_row(planned, user)
        read = CaseRead.objects.select_for_update().get(case=case, participant=user, modality=modality)
        submitted = read.submitted_at is not None
        if not access.can_change(case.study, user, READS, submitted=submitted, case=case, modality=modality):
            return
        CaseRead.objects.filter(pk=read.pk).update(
            reading_seconds=F("reading_seconds") + bounded_seconds(seconds, read.last_beat_at, now),
            last_beat_at=now,
        )


# --- localisation ------------------------------------------------------------------------------------------


def clean_points(points: Any, columns: int, rows: int, field: str = "points") -> list[list[float]]:
    """``[[x, y], ...]`` inside a ``columns`` x ``rows`` slice (x = column), rounded to 0.1 px."""
    if not isinstance(points, list) or len(points) > MAX_POINTS:
        raise ReaderStudyError(f"send a list of at most {MAX_POINTS} [x, y] points", field=field)
    out: list[list[float]] = []
    for n, point in enumerate(points, start=1):
        ok = isinstance(point, list | tuple) and len(point) == 2
        values = [float(v) for v in point] if ok and all(_is_number(v) for v in point) else []
        if len(values) != 2 or not all(math.isfinite(v) for v in values):
            raise ReaderStudyError(f"point {n} is not a pair of numbers [x, y]", field=field)
        x, y = values
        if not (0 <= x <= columns - 1 and 0 <= y <= rows - 1):
            raise ReaderStudyError(
                f"point {n} ({x:g}, {y:g}) lies outside the {columns} x {rows} image", field=field
            )
        out.append([round(x, 1), round(y, 1)])
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@transaction.atomic
def submit_points(item: LocalisationItem, user, points: Any) -> LocalisationMark:
    """Record a participant's bleeding points on an item (none is an answer too: no bleed found)."""
    study = item.study
    access.open_localisation(study, user)
    series = item.case.series
    cleaned = clean_points(points, series.columns, series.rows)
    mark = LocalisationMark.objects.select_for_update().filter(item=item, participant=user).first()
    access.require_change(study, user, LOCALISATION, "localisation", submitted=mark is not None)
    if mark is None:
        return LocalisationMark.objects.create(
            item=item, participant=user, points=cleaned, submitted_at=timezone.now()
        )
    mark.points = cleaned
    mark.save()
    return mark


# --- questionnaire -----------------------------------------------------------------------------------------


@transaction.atomic
def submit_answer(item: LocalisationItem, user, letter: str) -> QuestionnaireAnswer:
    """Record the candidate set (by the letter shown to this participant) found most similar."""
    access.open_questionnaire(item.study, user)
    chosen = dict(options(item.study, user, item)).get(letter)
    if chosen is None:
        raise ReaderStudyError(f"choose one of {', '.join(LETTERS)}", field="choice")
    answer = QuestionnaireAnswer.objects.select_for_update().filter(item=item, participant=user).first()
    access.require_change(item.study, user, QUESTIONNAIRE, "answer", submitted=answer is not None)
    if answer is None:
        return QuestionnaireAnswer.objects.create(
            item=item, participant=user, choice=chosen, letter=letter, submitted_at=timezone.now()
        )
    answer.choice, answer.letter = chosen, letter
    answer.save()
    return answer
