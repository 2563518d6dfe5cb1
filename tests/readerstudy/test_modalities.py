"""Modalities as plain functions: the reading plan of each design, the gates and locks of the aided reads,
the crossover's sessions and washout (a frozen clock), the frozen aided material, reading time per arm."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from ichweb.errors import Missing
from ichweb.readerstudy import access, material, plan, services
from ichweb.readerstudy.models import AidedCase, CaseRead
from tests.accounts.factories import UserFactory
from tests.readerstudy.conftest import BEST_SLICE, CASE_PROB, PROB_BEST, read_all, read_both

pytestmark = pytest.mark.django_db


def test_the_sequential_plan_reads_each_case_unaided_then_aided(sequential_study, carol):
    reads = plan.reading_plan(sequential_study, carol)
    order = services.ordered_cases(sequential_study, carol)
    assert [(p.case.pk, p.modality, p.step) for p in reads] == [
        (c.pk, m, s) for c in order for s, m in enumerate(("unaided", "aided"))
    ]
    assert access.progress(sequential_study, carol).reads == (0, 12)


def test_the_aided_read_opens_after_the_unaided_read_and_then_locks_it(sequential_study, carol):
    sequential_study.answers_changeable = True  # even where answers may change, seeing the model locks
    sequential_study.save()
    case = services.ordered_cases(sequential_study, carol)[0]
    with pytest.raises(access.Conflict, match="Submit your unaided read of this case first"):
        services.open_read(case, carol, "aided")
    assert not AidedCase.objects.exists()
    services.submit_read(case, carol, ich=False, subtypes=[], confidence=70)
    services.submit_read(case, carol, ich=True, subtypes=["IPH"], confidence=40)  # still changeable
    assert access.can_change(sequential_study, carol, access.READS, case=case)

    read, aided = services.open_read(case, carol, "aided")
    assert read.modality == "aided" and read.opened_at is not None and aided is not None
    assert not access.can_change(sequential_study, carol, access.READS, case=case)
    with pytest.raises(access.Conflict, match="seen the model's output for this case"):
        services.submit_read(case, carol, ich=False, subtypes=[], confidence=99)
    unaided = CaseRead.objects.get(case=case, participant=carol, modality="unaided")
    assert (unaided.ich, unaided.confidence) == (True, 40)
    # Another case's unaided read is not locked by this one's aided read.
    other = services.ordered_cases(sequential_study, carol)[1]
    assert access.can_change(sequential_study, carol, access.READS, submitted=False, case=other)
    services.submit_read(case, carol, ich=True, subtypes=[], confidence=95, modality="aided")
    assert access.progress(sequential_study, carol).reads == (2, 12)


def test_the_aided_material_is_frozen_at_first_opening(sequential_study, carol, rita, settings):
    case = next(c for c in sequential_study.cases.all())
    for user in (carol, rita):
        services.submit_read(case, user, ich=True, subtypes=[], confidence=50)
    _, aided = services.open_read(case, carol, "aided")
    assert aided.probabilities["ANY"] == CASE_PROB and aided.calls["ANY"] is True
    assert aided.thresholds["ANY"] == 0.5 and len(aided.slice_probabilities) == case.series.n_slices
    assert [(s.index, s.probability) for s in aided.slices.all()] == [(2, 0.617283), (BEST_SLICE, PROB_BEST)]
    assert aided.exemplars.count() == 2  # one TOP exemplar per positive slice
    # Inference runs again meanwhile: rita sees what carol saw.
    case.series.inference_jobs.all().delete()
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "predictions")
    _, again = services.open_read(case, rita, "aided")
    assert again.pk == aided.pk
    assert all(material.aided_overlay_path(s).is_file() for s in again.slices.all())


def test_an_aided_read_needs_the_models_results(sequential_study, carol):
    case = sequential_study.cases.first()
    case.series.inference_jobs.all().delete()
    services.submit_read(case, carol, ich=True, subtypes=[], confidence=50)
    with pytest.raises(material.NotPredicted, match="has not predicted this case yet"):
        services.open_read(case, carol, "aided")
    assert CaseRead.objects.get(case=case, participant=carol, modality="unaided").opened_at is None
    assert access.can_change(sequential_study, carol, access.READS, submitted=False, case=case)


def test_an_unaided_study_has_no_aided_reads(study, carol):
    case = study.cases.first()
    read_all(study, carol, limit=1)
    with pytest.raises(Missing, match="no aided reads"):
        services.open_read(case, carol, "aided")
    assert plan.planned_read(study, carol, case, "aided") is None


def test_crossover_reads_a_random_half_aided_in_session_1_and_the_rest_in_session_2(
    crossover_study, carol, rita
):
    others = [UserFactory(username=f"reader{i}", roles=("reader",)) for i in range(4)]
    crossover_study.participants.add(*others)
    cases = {c.pk for c in crossover_study.cases.all()}
    halves = set()
    for user in (carol, rita, *others):
        reads = plan.reading_plan(crossover_study, user)
        first = [p for p in reads if p.session == 1]
        second = [p for p in reads if p.session == 2]
        aided = {p.case.pk for p in first if p.modality == "aided"}
        assert len(aided) == 3 and {p.case.pk for p in first} == cases == {p.case.pk for p in second}
        # Session 2 reads every case in the other modality.
        assert {p.case.pk for p in second if p.modality == "unaided"} == aided
        assert {p.case.pk for p in second if p.modality == "aided"} == cases - aided
        for p in reads:
            assert plan.planned_read(crossover_study, user, p.case, p.modality) == p
        assert [p.case.pk for p in first] != [p.case.pk for p in second]  # a new order in session 2
        halves.add(frozenset(aided))
    assert len(halves) > 1  # not one half for all


def _finish_session(study, user, session: int) -> None:
    for p in plan.session_plan(study, user, session):
        services.open_read(p.case, user, p.modality)
        services.submit_read(p.case, user, ich=True, subtypes=[], confidence=50, modality=p.modality)


def test_session_2_opens_after_the_washout_by_the_servers_clock(crossover_study, carol, monkeypatch):
    first = plan.session_plan(crossover_study, carol, 1)
    second = plan.session_plan(crossover_study, carol, 2)
    with pytest.raises(access.Conflict, match="finish session 1 first"):
        services.open_read(second[0].case, carol, second[0].modality)
    _finish_session(crossover_study, carol, 1)
    finished = max(CaseRead.objects.filter(participant=carol).values_list("submitted_at", flat=True))
    clock = {"now": finished + timedelta(days=13, hours=23)}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])
    with pytest.raises(access.Conflict, match="after the washout of 14 days") as refused:
        services.open_read(second[0].case, carol, second[0].modality)
    assert f"{finished + timedelta(days=14):%Y-%m-%d}" in str(refused.value)
    assert access.current_session(crossover_study, carol) == 2
    assert not access.progress(crossover_study, carol).sessions[1].is_open

    clock["now"] = finished + timedelta(days=14, minutes=1)
    read, _ = services.open_read(second[0].case, carol, second[0].modality)
    assert read.session == 2 and read.opened_at == clock["now"]
    # Session 2 is open: every read of session 1 is locked, even where answers may change.
    crossover_study.answers_changeable = True
    crossover_study.save()
    with pytest.raises(access.Conflict, match="opened session 2"):
        services.submit_read(
            first[0].case, carol, ich=False, subtypes=[], confidence=1, modality=first[0].modality
        )
    _finish_session(crossover_study, carol, 2)
    assert access.progress(crossover_study, carol).reads == (12, 12)
    assert access.progress(crossover_study, carol).reads_finished


def test_reading_time_counts_per_arm(sequential_study, carol):
    case = services.ordered_cases(sequential_study, carol)[0]
    services.add_reading_time(case, carol, 20)
    with pytest.raises(access.Conflict):
        services.add_reading_time(case, carol, 10, "aided")  # not open before the unaided read is in
    services.submit_read(case, carol, ich=True, subtypes=[], confidence=50)
    services.open_read(case, carol, "aided")
    CaseRead.objects.update(last_beat_at=timezone.now() - timedelta(seconds=120))
    services.add_reading_time(case, carol, 35, "aided")
    services.add_reading_time(case, carol, 30)  # the unaided read is locked: its clock has stopped
    times = dict(CaseRead.objects.filter(participant=carol).values_list("modality", "reading_seconds"))
    assert times == {"unaided": 20, "aided": 35}


def test_the_design_is_checked_when_a_study_is_created(alice, carol, truth_cases, model_material):
    def create(**kwargs):
        args = {"lead": alice, "name": "x", "cohort_name": "y", "cases": truth_cases, "participants": [carol]}
        return services.create_study(**{**args, **kwargs})

    for kwargs, field in [
        ({"design": "sequential"}, "model_version"),
        ({"design": "someday", "model_version": model_material.version}, "design"),
        ({"design": "crossover", "model_version": model_material.version, "cases": truth_cases[:1]}, "cases"),
        (
            {"design": "crossover", "model_version": model_material.version, "washout_days": 400},
            "washout_days",
        ),
    ]:
        with pytest.raises(services.ReaderStudyError) as info:
            create(**kwargs)
        assert info.value.field == field, kwargs
    study, _ = create(design="crossover", model_version=model_material.version, washout_days=0)
    assert study.design == "crossover" and study.washout_days == 0


def test_the_localisation_opens_once_both_arms_are_read(sequential_study, carol):
    read_both(sequential_study, carol, limit=5)
    with pytest.raises(access.Conflict, match="10 of 12 reads"):
        access.require_localisation_open(sequential_study, carol)
    read_both(sequential_study, carol)
    assert access.open_localisation(sequential_study, carol).reads == (12, 12)
