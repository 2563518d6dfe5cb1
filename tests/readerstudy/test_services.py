"""The rules as plain functions: cohort, material, order, answers and locking, reading time, merging."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from ichweb.labeling.models import GroundTruth, GroundTruthSlice
from ichweb.lib.reading_time import HEARTBEAT_MAX_S
from ichweb.modeling.models import AttentionMap
from ichweb.readerstudy import consensus, material, services
from ichweb.readerstudy.models import Candidate, CaseRead, LocalisationItem
from ichweb.readerstudy.truth import case_truths
from tests.accounts.factories import UserFactory
from tests.readerstudy.conftest import BEST_SLICE, DISTANCES, PROB_BEST, localise_all, read_all

pytestmark = pytest.mark.django_db


def test_case_truth_is_any_flag_on_any_slice(study):
    cases = list(study.cases.all())
    truths = case_truths(cases)
    for case in cases:
        flags = GroundTruthSlice.objects.filter(ground_truth__case=case.source)
        codes = {code for row in flags for code in row.codes}
        assert truths[case.pk].subtypes == codes
        assert truths[case.pk].ich == bool(codes)
    assert any(t.ich for t in truths.values()) and not all(t.ich for t in truths.values())


def test_material_is_the_most_probable_positive_map_of_each_ich_case(study, model_material, settings):
    truths = case_truths(study.cases.all())
    ich_cases = {pk for pk, t in truths.items() if t.ich}
    items = list(LocalisationItem.objects.filter(study=study))
    assert {i.case_id for i in items} == ich_cases and len(items) == len(ich_cases)
    for item in items:
        assert item.slice.index == BEST_SLICE and item.label == "ANY" and item.probability == PROB_BEST
        assert [c.rank for c in item.candidates.all()] == [1, 4, 5, 8]
        assert [c.distance for c in item.candidates.all()] == [DISTANCES[r] for r in (1, 4, 5, 8)]
        assert material.map_path(item).is_file() and material.overlay_path(item).is_file()


def test_material_outlives_a_new_inference_run(study, settings):
    """Re-running inference replaces a job's maps and files; the study keeps its frozen copies."""
    AttentionMap.objects.all().delete()
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "predictions")
    for item in study.items.all():
        assert material.map_path(item).is_file() and item.candidates.count() == 4


def test_more_slices_per_case_and_the_threshold(study):
    study.slices_per_case = 3
    study.save()
    report = material.prepare_material(study)
    # Slices 5 and 2 are positive; slice 1 is under the threshold and IPH maps are another label.
    assert report.items == 2 * report.ich_cases
    assert set(study.items.values_list("slice__index", flat=True)) == {2, BEST_SLICE}


def test_cases_without_inference_are_reported(study, model_material):
    first_ich = study.items.order_by("position").first().case
    first_ich.series.inference_jobs.all().delete()
    report = material.prepare_material(study)
    assert report.without_inference == [first_ich.position + 1]
    assert not study.items.filter(case=first_ich).exists()


def test_material_is_frozen_once_points_are_marked(study, carol):
    read_all(study, carol)
    item = services.ordered_items(study, carol)[0]
    services.submit_points(item, carol, [[3, 4]])
    with pytest.raises(material.MaterialLocked):
        material.prepare_material(study)
    assert LocalisationItem.objects.filter(pk=item.pk).exists()


def test_case_order_is_stable_per_participant_and_differs_between_participants(study, carol, rita):
    others = [UserFactory(username=f"reader{i}", roles=("reader",)) for i in range(3)]
    study.participants.add(*others)
    orders = {u.username: [c.pk for c in services.ordered_cases(study, u)] for u in [carol, rita, *others]}
    assert orders["carol"] == [c.pk for c in services.ordered_cases(study, carol)]  # the same on every visit
    assert all(sorted(o) == sorted(orders["carol"]) for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) > 1  # not one order for all


def test_option_letters_are_stable_per_participant_and_item_and_vary(study, carol, rita):
    items = list(study.items.all())
    mine = [[c.pk for _, c in services.options(study, carol, i)] for i in items]
    again = [[c.pk for _, c in services.options(study, carol, i)] for i in items]
    theirs = [[c.pk for _, c in services.options(study, rita, i)] for i in items]
    assert mine == again and [letter for letter, _ in services.options(study, carol, items[0])] == list(
        "abcd"
    )
    # Under the letters a-d the lowest-distance set moves about between items and participants.
    rank_orders = {tuple(Candidate.objects.get(pk=pk).rank for pk in order) for order in mine + theirs}
    assert len(rank_orders) > 1


def test_a_submitted_read_is_locked_unless_the_study_allows_changes(study, carol):
    case = services.ordered_cases(study, carol)[0]
    services.submit_read(case, carol, ich=True, subtypes=["SDH"], confidence=70)
    with pytest.raises(services.Conflict, match="locks submitted answers"):
        services.submit_read(case, carol, ich=False, subtypes=[], confidence=90)
    read = CaseRead.objects.get(case=case, participant=carol)
    assert read.ich is True and read.codes == ["SDH"] and read.confidence == 70

    study.answers_changeable = True
    study.save()
    services.submit_read(case, carol, ich=False, subtypes=[], confidence=90)
    read.refresh_from_db()
    assert read.ich is False and read.codes == [] and read.confidence == 90


def test_changes_stop_once_the_next_task_started(study, carol):
    study.answers_changeable = True
    study.save()
    read_all(study, carol)
    localise_all(study, carol)
    case = services.ordered_cases(study, carol)[0]
    with pytest.raises(services.Conflict, match="opened a later task"):
        services.submit_read(case, carol, ich=False, subtypes=[], confidence=10)


def test_subtypes_need_ich(study, carol):
    case = study.cases.first()
    with pytest.raises(services.ReaderStudyError) as info:
        services.submit_read(case, carol, ich=False, subtypes=["IPH"], confidence=50)
    assert info.value.field == "subtypes"
    assert not CaseRead.objects.exists()


def test_reading_time_is_bounded_by_the_server_clock(study, carol):
    case = study.cases.first()
    services.add_reading_time(case, carol, 15)
    services.add_reading_time(case, carol, 1000)  # a forged beat right after the first counts ~0 s
    read = CaseRead.objects.get(case=case, participant=carol)
    assert 15 <= read.reading_seconds < 16
    CaseRead.objects.filter(pk=read.pk).update(last_beat_at=timezone.now() - timedelta(seconds=300))
    services.add_reading_time(case, carol, 1000)
    read.refresh_from_db()
    assert read.reading_seconds == pytest.approx(15 + HEARTBEAT_MAX_S, abs=1)
    services.submit_read(case, carol, ich=False, subtypes=[], confidence=50)
    CaseRead.objects.filter(pk=read.pk).update(last_beat_at=timezone.now() - timedelta(seconds=300))
    services.add_reading_time(case, carol, 30)  # a locked read no longer counts time
    read.refresh_from_db()
    assert read.reading_seconds == pytest.approx(15 + HEARTBEAT_MAX_S, abs=1)


def test_points_are_checked_against_the_slice(study, carol):
    read_all(study, carol)
    item = services.ordered_items(study, carol)[0]
    for bad, message in [
        ("x", "list"),
        ([[1]], "point 1"),
        ([[1, 2], [True, 3]], "point 2"),
        ([[float("nan"), 2]], "point 1"),
        ([[64, 2]], "outside the 64 x 64 image"),
        ([[0, 0]] * (services.MAX_POINTS + 1), "at most"),
    ]:
        with pytest.raises(services.ReaderStudyError, match=message) as info:
            services.submit_points(item, carol, bad)
        assert info.value.field == "points"
    assert services.submit_points(item, carol, [[1.234, 63]]).points == [[1.2, 63.0]]


def test_merge_keeps_both_and_merges_near_duplicates_closest_first():
    first = [[10, 10], [40, 40], [12, 10.5]]
    second = [[11, 10], [50, 50]]
    merged = consensus.merge_points(first, second, radius=3)
    # (10,10)-(11,10) is the closest pair; (12,10.5) stays on its own, as do the far points.
    assert merged == [[10.5, 10.0], [40, 40], [12, 10.5], [50, 50]]
    assert consensus.merge_points([], [[1, 2]], 5) == [[1, 2]]
    assert consensus.merge_points([[0, 0]], [[0, 9]], 5) == [[0, 0], [0, 9]]


def test_create_checks_participants_cases_and_consensus(alice, carol, bob, truth_cases):
    def create(**kwargs):
        args = {"lead": alice, "name": "x", "cohort_name": "y", "cases": truth_cases, "participants": [carol]}
        return services.create_study(**{**args, **kwargs})

    for kwargs, field in [
        ({"participants": [carol, bob]}, "participants"),
        ({"participants": []}, "participants"),
        ({"cases": []}, "cases"),
        ({"consensus": [carol, bob]}, "consensus"),
        ({"cases": [truth_cases[0], truth_cases[0]]}, "cases"),
    ]:
        with pytest.raises(services.ReaderStudyError) as info:
            create(**kwargs)
        assert info.value.field == field, kwargs
    GroundTruth.objects.filter(case=truth_cases[0]).update(excluded=True)
    with pytest.raises(services.ReaderStudyError, match=f"excluded\\): {truth_cases[0].pk}"):
        create()
    study, report = create(cases=truth_cases[1:])
    assert study.cases.count() == 5 and report.items == 0  # no model version: no material
