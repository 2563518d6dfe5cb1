"""Which reads a participant makes, and in which order: a study's ``design`` as a reading plan
(docs/reader-studies.md, "Designs").

* ``unaided``: every case once, unaided, in the participant's random order (``ordered_cases``).
* ``sequential``: every case twice in a row in that order, first unaided, then aided (step 1 of the case).
* ``crossover``: two sessions. In session 1 a per-participant random half of the cases (``aided_first``)
  is read aided and the other half unaided, in the order of ``ordered_cases``; in session 2 every case is
  read in the other modality, in a second random order of the participant's own.

Orders and halves are drawn from a generator seeded by the study, the participant and what is drawn, so
they are the same in every process and on every visit. The gates and locks over the plan are the rules of
``ichweb.readerstudy.access``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from ichweb.readerstudy.models import Design, Modality, ReaderStudy, StudyCase

T = TypeVar("T")

UNAIDED, AIDED = Modality.UNAIDED.value, Modality.AIDED.value


@dataclass(frozen=True)
class PlannedRead:
    """One read of the plan: a case in a modality, in a session (1 or 2), at a step of the case (sequential:
    the unaided read is step 0, the aided read step 1)."""

    case: StudyCase
    modality: str
    session: int
    step: int


def _rng(*parts: object) -> random.Random:
    """A generator seeded by ``parts`` alone: the same order in every process and on every visit."""
    digest = hashlib.sha256(":".join(map(str, ("readerstudy", *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 -- an order, not a secret


def shuffled(items: Sequence[T], *seed: object) -> list[T]:
    out = list(items)
    _rng(*seed).shuffle(out)
    return out


def modalities(study: ReaderStudy) -> tuple[str, ...]:
    """The study's arms: unaided only, or unaided and aided."""
    return (UNAIDED,) if study.design == Design.UNAIDED else (UNAIDED, AIDED)


def n_sessions(study: ReaderStudy) -> int:
    return 2 if study.design == Design.CROSSOVER else 1


def ordered_cases(study: ReaderStudy, user, cases: Sequence[StudyCase] | None = None) -> list[StudyCase]:
    """The cohort in this participant's random order (seeded by study and participant): session 1's order.

    ``cases``: the study's cases when already loaded (in position order), to save the query.
    """
    cohort = list(study.cases.order_by("position")) if cases is None else list(cases)
    return shuffled(cohort, study.pk, user.pk, "cases")


def aided_first(study: ReaderStudy, user, cases: Sequence[StudyCase]) -> set[int]:
    """Crossover: the ids of the cases this participant reads aided in session 1, a random half of them
    (of an odd number, the larger or the smaller half by a coin of the same generator)."""
    ids = shuffled([c.pk for c in cases], study.pk, user.pk, "crossover")
    rng = _rng(study.pk, user.pk, "crossover-odd")
    k = len(ids) // 2 + (len(ids) % 2 if rng.random() < 0.5 else 0)
    return set(ids[:k])


def reading_plan(study: ReaderStudy, user) -> list[PlannedRead]:
    """Every read ``user`` makes in ``study``, in the order they make them (module docstring)."""
    cases = list(study.cases.order_by("position"))
    first = ordered_cases(study, user, cases)
    if study.design == Design.SEQUENTIAL:
        return [PlannedRead(c, m, 1, step) for c in first for step, m in enumerate((UNAIDED, AIDED))]
    if study.design != Design.CROSSOVER:
        return [PlannedRead(c, UNAIDED, 1, 0) for c in first]
    aided = aided_first(study, user, cases)
    second = shuffled(cases, study.pk, user.pk, "cases", 2)
    return [PlannedRead(c, AIDED if c.pk in aided else UNAIDED, 1, 0) for c in first] + [
        PlannedRead(c, UNAIDED if c.pk in aided else AIDED, 2, 0) for c in second
    ]


def session_plan(study: ReaderStudy, user, session: int) -> list[PlannedRead]:
    """The reads of one session, in order."""
    return [p for p in reading_plan(study, user) if p.session == session]


def session_cases(study: ReaderStudy, user, session: int) -> list[StudyCase]:
    """The cases of a session in the order they are read (each once, also where read in two modalities)."""
    seen: set[int] = set()
    out = []
    for p in session_plan(study, user, session):
        if p.case.pk not in seen:
            seen.add(p.case.pk)
            out.append(p.case)
    return out


def planned_read(study: ReaderStudy, user, case: StudyCase, modality: str) -> PlannedRead | None:
    """The plan's read of ``case`` in ``modality``, or ``None`` where the design has no such read."""
    if modality not in modalities(study):
        return None
    if study.design == Design.CROSSOVER:
        cases = list(study.cases.order_by("position"))
        aided = aided_first(study, user, cases)
        session = 1 if (case.pk in aided) == (modality == AIDED) else 2
        return PlannedRead(case, modality, session, 0)
    return PlannedRead(case, modality, 1, 0 if modality == UNAIDED else 1)
