"""Who may reach which reader study, when each task opens and when an answer may still change.

The one place of these rules (docs/blinding.md, "Reader-study participants"); services, consensus, pages
and the API ask here.

* **Studies.** Leads and admins reach every study; a participant (reader role) the studies they take part
  in. The consensus is for a lead or admin and the study's two consensus participants.
* **Task gates.** Tasks open in order: case reads always, the localisation once every read of the plan is
  submitted, the questionnaire once every slice is marked, the consensus once both consensus participants'
  localisations are final.
* **Reads of the plan** (``ichweb.readerstudy.plan``). A read opens when its session is open and, for the
  aided read of a sequential study, once the case's unaided read is submitted; a crossover's session 2 opens
  once session 1 is finished and ``washout_days`` have passed since (``require_read_open``). Opening a read
  that shows more locks a read before it (``read_locked``): the aided read of a case locks its unaided read
  (sequential), any read of session 2 locks every read of session 1 (crossover). More in
  (docs/reader-studies.md, "Gates and locks").
* **Locks.** Opening a task that reveals more locks the answers of the task before it for good
  (``TaskLocks``): the localisation (model-positive ICH cases) locks the case reads; the questionnaire
  (attention maps) and the consensus (the partner's points) lock the localisation.
* **Answers** (``can_change``): an answer may be given until its task (or, for a case read, the read) is
  locked, and changed after it was submitted only where the study allows changes, and also only until then.

The room's errors are defined here, at the bottom of its imports, so that the gates can raise them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from ichweb import errors
from ichweb.accounts.roles import Role, has_role, is_manager
from ichweb.errors import RuleError
from ichweb.readerstudy import plan
from ichweb.readerstudy.models import (
    CaseRead,
    Design,
    LocalisationItem,
    LocalisationMark,
    QuestionnaireAnswer,
    ReaderStudy,
    StudyCase,
    TaskLocks,
)
from ichweb.readerstudy.plan import AIDED, UNAIDED, PlannedRead

#: The tasks of a participant; opening a later one locks the answers of an earlier one.
READS, LOCALISATION, QUESTIONNAIRE = "reads", "localisation", "questionnaire"
_LOCK_FIELDS = {READS: "reads_locked_at", LOCALISATION: "localisation_locked_at"}
#: The questionnaire's candidate sets, under these letters.
LETTERS = "abcd"


class ReaderStudyError(RuleError):
    """A request that breaks a rule of reader studies (HTTP 400); ``field`` names the input at fault."""


class Conflict(errors.Conflict, ReaderStudyError):
    """A request the study's state refuses (HTTP 409): a task not open yet, a locked answer."""


# --- studies ----------------------------------------------------------------------------------------------


def visible_studies(user) -> QuerySet[ReaderStudy]:
    """Leads and admins see every study; a participant sees the studies they take part in."""
    if is_manager(user):
        return ReaderStudy.objects.all()
    return participant_studies(user)


def participant_studies(user) -> QuerySet[ReaderStudy]:
    """The studies ``user`` takes part in (while they hold the reader role)."""
    if not has_role(user, Role.READER):
        return ReaderStudy.objects.none()
    return ReaderStudy.objects.filter(participants=user)


def consensus_pair(study: ReaderStudy) -> tuple[Any, Any] | None:
    """The study's two consensus participants, or ``None`` for a study without a consensus."""
    if study.consensus_first_id is None or study.consensus_second_id is None:
        return None
    return study.consensus_first, study.consensus_second


def can_merge(study: ReaderStudy, user) -> bool:
    """A lead, an admin or one of the two consensus participants (of a study that has them)."""
    pair = (study.consensus_first_id, study.consensus_second_id)
    return None not in pair and (is_manager(user) or user.pk in pair)


# --- where a participant stands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """A crossover session of a participant: reads submitted of its total; session 2 opens at ``opens_at``
    (``None`` until session 1 is finished)."""

    number: int
    done: int
    total: int
    is_open: bool
    opens_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.number,
            "done": self.done,
            "total": self.total,
            "open": self.is_open,
            "opens_at": self.opens_at.isoformat() if self.opens_at else None,
        }


@dataclass(frozen=True)
class Progress:
    """A participant's (done, total) per task; a task is open once the tasks before it are done.

    ``reads`` counts every read of the plan (both modalities where the design has two); ``sessions`` are
    the crossover's two sessions (empty for a one-session design)."""

    reads: tuple[int, int]
    localisation: tuple[int, int]
    questionnaire: tuple[int, int]
    sessions: tuple[Session, ...] = field(default=())

    @property
    def reads_finished(self) -> bool:
        return self.reads[0] == self.reads[1]

    @property
    def localisation_finished(self) -> bool:
        return self.reads_finished and self.localisation[0] == self.localisation[1]

    @property
    def finished(self) -> bool:
        return self.localisation_finished and self.questionnaire[0] == self.questionnaire[1]

    def to_dict(self) -> dict[str, Any]:
        def task(counts: tuple[int, int], is_open: bool) -> dict[str, Any]:
            return {"done": counts[0], "total": counts[1], "open": is_open}

        return {
            "reads": task(self.reads, True),
            "localisation": task(self.localisation, self.reads_finished),
            "questionnaire": task(self.questionnaire, self.localisation_finished),
            "finished": self.finished,
            "sessions": [s.to_dict() for s in self.sessions],
        }


def questionnaire_items(study: ReaderStudy) -> QuerySet[LocalisationItem]:
    """Items that have the four candidate sets (a model without an atlas gives none)."""
    return (
        study.items.annotate(n_candidates=Count("candidates"))
        .filter(n_candidates=len(LETTERS))
        .order_by("position")
    )


def progress(study: ReaderStudy, user) -> Progress:
    q_items = questionnaire_items(study).values("pk")
    return Progress(
        reads=(
            CaseRead.objects.filter(case__study=study, participant=user, submitted_at__isnull=False).count(),
            study.cases.count() * len(plan.modalities(study)),
        ),
        localisation=(
            LocalisationMark.objects.filter(item__study=study, participant=user).count(),
            study.items.count(),
        ),
        questionnaire=(
            QuestionnaireAnswer.objects.filter(item__in=q_items, participant=user).count(),
            len(q_items),
        ),
        sessions=tuple(sessions(study, user)),
    )


def sessions(study: ReaderStudy, user) -> list[Session]:
    """The crossover's two sessions of ``user`` (none for other designs). Session 2 opens ``washout_days``
    after session 1 was finished (the first submission of its last read), by the server's clock."""
    if plan.n_sessions(study) == 1:
        return []
    total = study.cases.count()
    submitted = CaseRead.objects.filter(case__study=study, participant=user, submitted_at__isnull=False)
    done = dict(submitted.values("session").annotate(n=Count("pk")).values_list("session", "n"))
    opens_at = None
    if done.get(1, 0) == total:
        finished_at = submitted.filter(session=1).aggregate(last=Max("submitted_at"))["last"]
        opens_at = finished_at + timedelta(days=study.washout_days)
    second_open = opens_at is not None and timezone.now() >= opens_at
    return [Session(1, done.get(1, 0), total, True), Session(2, done.get(2, 0), total, second_open, opens_at)]


def current_session(study: ReaderStudy, user) -> int:
    """1 until session 1 is finished, then 2 (open or not)."""
    found = sessions(study, user)
    return 2 if found and found[0].done == found[0].total else 1


# --- reads of the plan ------------------------------------------------------------------------------------


def require_session_open(study: ReaderStudy, user, session: int) -> None:
    """``Conflict`` for session 2 of a crossover before session 1 is finished and the washout has passed."""
    if session == 1:
        return
    first, second = sessions(study, user)
    if first.done < first.total:
        raise Conflict(
            f"Session 2 opens once session 1 is finished ({first.done} of {first.total} reads submitted) "
            f"and {study.washout_days} days of washout have passed: finish session 1 first."
        )
    if not second.is_open:
        assert second.opens_at is not None  # session 1 is finished: the washout has an end
        raise Conflict(
            f"Session 2 opens on {second.opens_at:%Y-%m-%d %H:%M} UTC, after the washout of "
            f"{study.washout_days} days since you finished session 1; come back then."
        )


def require_read_open(study: ReaderStudy, user, case: StudyCase, modality: str) -> PlannedRead:
    """The plan's read of ``case`` in ``modality`` once it may be opened.

    Raises:
        Missing: the design has no such read (an aided read of an unaided study): 404.
        Conflict: its session is not open yet, or (sequential) the case's unaided read is not submitted.
    """
    planned = plan.planned_read(study, user, case, modality)
    if planned is None:
        raise errors.Missing(f"This study has no {modality} reads: its design is {study.design}.")
    require_session_open(study, user, planned.session)
    if planned.step == 1:
        unaided = CaseRead.objects.filter(
            case=case, participant=user, modality=UNAIDED, submitted_at__isnull=False
        )
        if not unaided.exists():
            raise Conflict(
                "Submit your unaided read of this case first: the model's output opens after it, and from "
                "then on the unaided read cannot change."
            )
    return planned


def read_row(planned: PlannedRead, user) -> CaseRead:
    """The participant's row of a planned read (created, in its session, the first time)."""
    read, _ = CaseRead.objects.get_or_create(
        case=planned.case, participant=user, modality=planned.modality, defaults={"session": planned.session}
    )
    return read


def mark_opened(planned: PlannedRead, user) -> CaseRead:
    """Record (once) that the read's material was served: from now on it locks the reads before it."""
    read = read_row(planned, user)
    if read.opened_at is None:
        CaseRead.objects.filter(pk=read.pk, opened_at__isnull=True).update(opened_at=timezone.now())
        read.refresh_from_db()
    return read


def read_locked(study: ReaderStudy, user, case: StudyCase, modality: str) -> str | None:
    """Why ``user``'s read of ``case`` in ``modality`` is locked by a later read they opened, or ``None``.

    Sequential: the case's aided read was opened (its unaided read would no longer be unaided). Crossover:
    a read of session 2 was opened (session 1 is over; its reads stay as they were).
    """
    mine = CaseRead.objects.filter(case__study=study, participant=user, opened_at__isnull=False)
    sequential = study.design == Design.SEQUENTIAL and modality == UNAIDED
    if sequential and mine.filter(case=case, modality=AIDED).exists():
        return "you have seen the model's output for this case"
    if study.design == Design.CROSSOVER:
        planned = plan.planned_read(study, user, case, modality)
        if planned is not None and planned.session == 1 and mine.filter(session=2).exists():
            return "you have opened session 2, so the reads of session 1 stay as they were"
    return None


# --- task gates -------------------------------------------------------------------------------------------


def require_localisation_open(study: ReaderStudy, user) -> Progress:
    """``user``'s progress, or ``Conflict`` while a case is still unread."""
    state = progress(study, user)
    if not state.reads_finished:
        done, total = state.reads
        raise Conflict(
            f"The localisation task opens once every case is read: {done} of {total} reads submitted."
        )
    return state


def require_questionnaire_open(study: ReaderStudy, user) -> Progress:
    """``user``'s progress, or ``Conflict`` while the localisation task is not finished."""
    state = require_localisation_open(study, user)
    if not state.localisation_finished:
        done, total = state.localisation
        raise Conflict(
            "The prediction-basis questionnaire opens only after the localisation task is finished: "
            f"{done} of {total} slices marked."
        )
    return state


def open_localisation(study: ReaderStudy, user) -> Progress:
    """Open the localisation task for ``user``: from now on their case reads never change."""
    state = require_localisation_open(study, user)
    lock(study, user, READS)
    return state


def open_questionnaire(study: ReaderStudy, user) -> Progress:
    """Open the questionnaire (it shows attention maps): from now on the localisation never changes."""
    state = require_questionnaire_open(study, user)
    lock(study, user, LOCALISATION)
    return state


def localisation_final(study: ReaderStudy, user) -> bool:
    """Every slice marked, and the marks can no longer change."""
    return progress(study, user).localisation_finished and not can_change(study, user, LOCALISATION)


def require_consensus_open(study: ReaderStudy) -> tuple[Any, Any]:
    """Both consensus participants' localisations must be final: every slice marked and the marks locked
    (neither may see the other's points while their own can still change). Opening the consensus locks both
    for good, so that allowing changes later cannot reopen them."""
    pair = consensus_pair(study)
    if pair is None:
        raise Conflict("This study has no consensus participants.")
    waiting = [u.get_username() for u in pair if not localisation_final(study, u)]
    if waiting:
        raise Conflict(
            "The consensus opens when both localisations are final (every slice marked, then "
            f"'Finish localisation' or the questionnaire opened); waiting for {', '.join(waiting)}."
        )
    for user in pair:
        lock(study, user, LOCALISATION)
    return pair


# --- locks and answers ------------------------------------------------------------------------------------


def lock(study: ReaderStudy, user, task: str) -> None:
    """Lock ``task``'s answers of ``user`` for good (the first time only; later calls change nothing)."""
    field = _LOCK_FIELDS[task]
    TaskLocks.objects.get_or_create(study=study, participant=user)
    TaskLocks.objects.filter(study=study, participant=user, **{f"{field}__isnull": True}).update(
        **{field: timezone.now()}
    )


def locked(study: ReaderStudy, user, task: str) -> bool:
    """Whether a later task has locked ``task``'s answers of ``user`` (the questionnaire never locks)."""
    field = _LOCK_FIELDS.get(task)
    return field is not None and (
        TaskLocks.objects.filter(study=study, participant=user, **{f"{field}__isnull": False}).exists()
    )


def can_change(
    study: ReaderStudy,
    user,
    task: str,
    *,
    submitted: bool = True,
    case: StudyCase | None = None,
    modality: str = UNAIDED,
) -> bool:
    """Whether ``user`` may give an answer of ``task``: never once a later task has locked it (nor, for the
    read of ``case`` in ``modality``, once a later read locked it: ``read_locked``); a first answer
    (``submitted=False``) until then, a change of a submitted one only where the study allows changes.

    This is the ``editable`` flag of the task routes and the check of every write (``require_change``).
    """
    if locked(study, user, task):
        return False
    if task == READS and case is not None and read_locked(study, user, case, modality):
        return False
    return study.answers_changeable or not submitted


def require_change(
    study: ReaderStudy,
    user,
    task: str,
    what: str,
    *,
    submitted: bool = True,
    case: StudyCase | None = None,
    modality: str = UNAIDED,
) -> None:
    """``Conflict`` naming ``what`` (read, localisation, answer) and why, where ``can_change`` refuses."""
    if can_change(study, user, task, submitted=submitted, case=case, modality=modality):
        return
    why = read_locked(study, user, case, modality) if task == READS and case is not None else None
    if why and not locked(study, user, task):
        raise Conflict(f"This {modality} {what} can no longer change: {why}.")
    if not study.answers_changeable:
        raise Conflict(f"This {what} is submitted and this study locks submitted answers.")
    raise Conflict(
        f"This {what} can no longer change: you have opened a later task, which shows more than this one."
    )
