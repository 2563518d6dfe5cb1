"""Who may reach which reader study, when each task opens and when an answer may still change.

The one place of these rules (docs/blinding.md, "Reader-study participants"); services, consensus, pages
and the API ask here.

* **Studies.** Leads and admins reach every study; a participant (reader role) the studies they take part
  in. The consensus is for a lead or admin and the study's two consensus participants.
* **Task gates.** Tasks open in order: case reads always, the localisation once every case is read, the
  questionnaire once every slice is marked, the consensus once both consensus participants' localisations
  are final.
* **Locks.** Opening a task that reveals more locks the answers of the task before it for good
  (``TaskLocks``): the localisation (model-positive ICH cases) locks the case reads; the questionnaire
  (attention maps) and the consensus (the partner's points) lock the localisation.
* **Answers** (``can_change``): an answer may be given until its task is locked, and changed after it was
  submitted only where the study allows changes, and also only until then.

The room's errors are defined here, at the bottom of its imports, so that the gates can raise them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from ichweb import errors
from ichweb.accounts.roles import Role, has_role, is_manager
from ichweb.errors import RuleError
from ichweb.readerstudy.models import (
    CaseRead,
    LocalisationItem,
    LocalisationMark,
    QuestionnaireAnswer,
    ReaderStudy,
    TaskLocks,
)

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
class Progress:
    """A participant's (done, total) per task; a task is open once the tasks before it are done."""

    reads: tuple[int, int]
    localisation: tuple[int, int]
    questionnaire: tuple[int, int]

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
            study.cases.count(),
        ),
        localisation=(
            LocalisationMark.objects.filter(item__study=study, participant=user).count(),
            study.items.count(),
        ),
        questionnaire=(
            QuestionnaireAnswer.objects.filter(item__in=q_items, participant=user).count(),
            len(q_items),
        ),
    )


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


def can_change(study: ReaderStudy, user, task: str, *, submitted: bool = True) -> bool:
    """Whether ``user`` may give an answer of ``task``: never once a later task has locked it; a first answer
    (``submitted=False``) until then, a change of a submitted one only where the study allows changes.

    This is the ``editable`` flag of the task routes and the check of every write (``require_change``).
    """
    if locked(study, user, task):
        return False
    return study.answers_changeable or not submitted


def require_change(study: ReaderStudy, user, task: str, what: str, *, submitted: bool = True) -> None:
    """``Conflict`` naming ``what`` (read, localisation, answer) and why, where ``can_change`` refuses."""
    if can_change(study, user, task, submitted=submitted):
        return
    if not study.answers_changeable:
        raise Conflict(f"This {what} is submitted and this study locks submitted answers.")
    raise Conflict(
        f"This {what} can no longer change: you have opened a later task, which shows more than this one."
    )
