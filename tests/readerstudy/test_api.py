"""The reader-study API: who reaches what, task gates (409), answer locking, bad input (400), pixels."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ichweb.readerstudy import services
from ichweb.readerstudy.models import (
    CaseRead,
    LocalisationMark,
    QuestionnaireAnswer,
    ReaderStudy,
    ReferencePoints,
)
from tests.readerstudy.conftest import MAP_CENTRE, answer_all, localise_all, read_all

pytestmark = [pytest.mark.django_db, pytest.mark.pg]

BASE = "/api/v1/reader-studies"


def _put(client, url, body):
    return client.put(url, body, content_type="application/json")


def _read(client, study, case_id, **body):
    return _put(client, f"{BASE}/{study.pk}/cases/{case_id}/read", {"ich": True, "confidence": 60, **body})


def test_a_lead_creates_a_study_from_a_project_and_a_reader_cannot(
    client, alice, carol, rita, truth_cases, model_material
):
    body = {
        "name": "Prospective readers",
        "cohort_name": "ED cohort",
        "cohort_kind": "prospective",
        "project": truth_cases[0].project_id,
        "participants": ["carol", "rita"],
        "consensus": ["carol", "rita"],
        "model_version": model_material.version.pk,
    }
    client.force_login(carol)
    assert client.post(f"{BASE}/", body, content_type="application/json").status_code == 403
    client.force_login(alice)
    response = client.post(f"{BASE}/", body, content_type="application/json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["n_cases"] == 6 and created["material"]["items"] == created["n_items"] > 0
    assert created["participants"] == ["carol", "rita"] and created["answers_changeable"] is False
    study = ReaderStudy.objects.get(pk=created["id"])
    assert study.cohort_kind == "prospective" and study.created_by == alice


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"participants": ["bob"]}, "participants"),
        ({"participants": []}, "participants"),
        ({"consensus": ["carol"]}, "consensus"),
        ({"consensus": ["carol", "ralph"]}, "consensus"),
        ({"project": None}, "cases"),
        ({"cases": [999999]}, "cases"),
        ({"cohort_kind": "someday"}, "cohort_kind"),
        ({"slices_per_case": 0}, "slices_per_case"),
    ],
)
def test_bad_study_input_names_the_field_and_writes_nothing(
    client, alice, carol, rita, ralph, bob, truth_cases, change, field
):
    body = {"name": "x", "cohort_name": "y", "project": truth_cases[0].project_id, "participants": ["carol"]}
    client.force_login(alice)
    response = client.post(f"{BASE}/", {**body, **change}, content_type="application/json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not ReaderStudy.objects.exists()


def test_readers_list_only_their_studies_and_outsiders_nothing(client, study, carol, ralph, mallory, alice):
    client.force_login(carol)
    body = client.get(f"{BASE}/").json()
    assert body["count"] == 1 and body["results"][0]["progress"]["reads"] == {
        "done": 0,
        "total": 6,
        "open": True,
    }
    assert "participants" not in body["results"][0] and "model_version" not in body["results"][0]
    client.force_login(ralph)
    assert client.get(f"{BASE}/").json()["count"] == 0
    assert client.get(f"{BASE}/{study.pk}/").status_code == 404
    assert client.get(f"{BASE}/{study.pk}/cases/").status_code == 404
    client.force_login(mallory)
    assert client.get(f"{BASE}/").json()["count"] == 0
    client.force_login(alice)
    assert client.get(f"{BASE}/{study.pk}/").json()["participants"] == ["carol", "rita"]
    assert client.get(f"{BASE}/{study.pk}/cases/").status_code == 404  # leads are not participants


def test_a_lead_manages_participants_and_locking(client, study, alice, carol, ralph):
    client.force_login(alice)
    url = f"{BASE}/{study.pk}/"
    response = client.patch(
        url,
        {"answers_changeable": True, "participants": ["carol", "rita", "ralph"]},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["participants"] == ["carol", "ralph", "rita"]
    response = client.patch(url, {"participants": ["ralph"]}, content_type="application/json")
    assert response.status_code == 400 and "consensus" in response.json()  # the consensus pair stays
    client.force_login(carol)
    assert client.patch(url, {"name": "mine"}, content_type="application/json").status_code == 403


def test_case_list_follows_the_participant_order_and_is_paginated(client, study, carol):
    client.force_login(carol)
    body = client.get(f"{BASE}/{study.pk}/cases/").json()
    assert body["count"] == 6 and [r["id"] for r in body["results"]] == [
        c.pk for c in services.ordered_cases(study, carol)
    ]
    assert [r["number"] for r in body["results"]] == [1, 2, 3, 4, 5, 6]
    first = client.get(body["results"][0]["url"]).json()
    assert first["number"] == 1 and first["previous"] is None and first["next"] == body["results"][1]["id"]
    assert first["read"] is None and first["editable"] is True and len(first["slices"]) == first["n_slices"]


def test_read_submission_locking_and_bad_input(client, study, carol):
    client.force_login(carol)
    case = services.ordered_cases(study, carol)[0]
    assert _read(client, study, case.pk, confidence=101).json().keys() == {"confidence"}
    assert "subtypes" in _read(client, study, case.pk, subtypes=["XYZ"]).json()
    response = _read(client, study, case.pk, ich=False, subtypes=["IPH"])
    assert response.status_code == 400 and "subtypes" in response.json()
    assert not CaseRead.objects.filter(submitted_at__isnull=False).exists()

    response = _read(client, study, case.pk, subtypes=["SAH", "IVH"], confidence=85)
    assert response.status_code == 200
    assert response.json()["read"] == {"ich": True, "subtypes": ["IVH", "SAH"], "confidence": 85}
    assert response.json()["editable"] is False
    response = _read(client, study, case.pk, ich=False, confidence=10)
    assert response.status_code == 409 and "locks submitted answers" in response.json()["detail"]

    study.answers_changeable = True
    study.save()
    assert _read(client, study, case.pk, ich=False, confidence=10).json()["read"]["ich"] is False


def test_heartbeat_counts_reading_time(client, study, carol):
    client.force_login(carol)
    case = study.cases.first()
    url = f"{BASE}/{study.pk}/cases/{case.pk}/heartbeat"
    assert client.post(url, {"seconds": 15}, content_type="application/json").status_code == 204
    assert client.post(url, {"seconds": "soon"}, content_type="application/json").json().keys() == {"seconds"}
    assert CaseRead.objects.get(case=case, participant=carol).reading_seconds == 15


def test_slice_pixels_are_blinded_and_bounded(client, study, carol, rita):
    client.force_login(carol)
    case = study.cases.first()
    url = f"{BASE}/{study.pk}/cases/{case.pk}/slices/3/image.png"
    response = client.get(url, {"preset": "brain", "size": 32})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    assert (
        case.series.series_uid not in response["ETag"] and case.series.study.study_uid not in response["ETag"]
    )
    assert (
        client.get(url, HTTP_IF_NONE_MATCH=response["ETag"], data={"preset": "brain", "size": 32}).status_code
        == 304
    )
    assert client.get(f"{BASE}/{study.pk}/cases/{case.pk}/slices/99/image.png").status_code == 404
    assert "preset" in client.get(url, {"preset": "rainbow"}).json()


def test_localisation_opens_after_the_reads(client, study, carol):
    client.force_login(carol)
    url = f"{BASE}/{study.pk}/localisation/"
    read_all(study, carol, limit=5)
    response = client.get(url)
    assert response.status_code == 409 and "5 of 6 reads" in response.json()["detail"]
    item = study.items.first()
    assert _put(client, f"{url}{item.pk}/", {"points": [[1, 1]]}).status_code == 409
    assert client.get(f"{url}{item.pk}/image.png").status_code == 409
    read_all(study, carol)
    body = client.get(url).json()
    assert body["count"] == study.items.count()
    detail = client.get(body["results"][0]["url"]).json()
    assert detail["points"] == [] and detail["editable"] and "overlay_url" not in detail
    assert client.get(detail["image_url"]).content.startswith(b"\x89PNG")
    response = _put(client, body["results"][0]["url"], {"points": [[10, 12.25], [40, 41]]})
    assert response.status_code == 200 and response.json()["points"] == [[10, 12.2], [40, 41]]
    assert "points" in _put(client, body["results"][1]["url"], {"points": [[500, 1]]}).json()
    assert _put(client, body["results"][0]["url"], {"points": []}).status_code == 409  # locked


def test_questionnaire_is_locked_until_the_localisation_task_is_finished(client, study, carol):
    client.force_login(carol)
    url = f"{BASE}/{study.pk}/questionnaire/"
    item = study.items.first()
    read_all(study, carol)
    items = services.ordered_items(study, carol)
    for done in items[:-1]:
        services.submit_points(done, carol, [])
    for route in ("", f"{item.pk}/", f"{item.pk}/overlay.png", f"{item.pk}/options/a/patch.png"):
        response = client.get(url + route)
        assert response.status_code == 409, route
        assert "only after the localisation task is finished" in response.json()["detail"]
    assert _put(client, f"{url}{item.pk}/", {"choice": "a"}).status_code == 409
    assert not QuestionnaireAnswer.objects.exists()

    services.submit_points(items[-1], carol, [])
    body = client.get(url).json()
    assert body["count"] == len(items)
    detail = client.get(f"{url}{item.pk}/").json()
    assert [o["letter"] for o in detail["options"]] == ["a", "b", "c", "d"] and detail["choice"] is None
    for key in ("overlay_url", "image_url"):
        assert client.get(detail[key]).content.startswith(b"\x89PNG")
    patches = {client.get(o["patch_url"]).content for o in detail["options"]}
    assert len(patches) == 4  # four different exemplars
    assert "choice" in _put(client, f"{url}{item.pk}/", {"choice": "e"}).json()
    response = _put(client, f"{url}{item.pk}/", {"choice": "c"})
    assert response.status_code == 200 and response.json()["choice"] == "c"
    answer = QuestionnaireAnswer.objects.get(participant=carol, item=item)
    assert answer.choice == dict(services.options(study, carol, item))["c"]
    assert _put(client, f"{url}{item.pk}/", {"choice": "a"}).status_code == 409


def test_consensus_needs_both_finished_and_a_lead_or_the_pair(client, study, alice, carol, rita, ralph):
    client.force_login(alice)
    url = f"{BASE}/{study.pk}/consensus/"
    response = client.get(url)
    assert response.status_code == 409 and "carol, rita" in response.json()["detail"]
    for user, points in ((carol, [list(MAP_CENTRE), [5, 5]]), (rita, [[33, 31]])):
        read_all(study, user)
        localise_all(study, user, points)
    study.participants.add(ralph)
    client.force_login(ralph)
    assert client.get(url).status_code == 403
    client.force_login(carol)
    body = client.get(url).json()
    assert body["count"] == study.items.count() and not body["results"][0]["has_reference"]
    detail = client.get(body["results"][0]["url"]).json()
    assert detail["first"] == {"participant": "carol", "points": [[32.0, 32.0], [5, 5]]}
    assert detail["proposal"] == [[32.5, 31.5], [5, 5]] and detail["reference"] is None
    response = _put(client, body["results"][0]["url"], {"points": [[32.5, 31.5]]})
    assert response.status_code == 200 and response.json()["reference"] == [[32.5, 31.5]]
    assert ReferencePoints.objects.get().merged_by == carol
    assert "points" in _put(client, body["results"][0]["url"], {"points": [[1, 2, 3]]}).json()


def test_answers_and_marks_of_others_stay_unreachable(client, study, carol, rita):
    read_all(study, rita)
    localise_all(study, rita)
    answer_all(study, rita)
    client.force_login(carol)
    assert client.get(f"{BASE}/{study.pk}/localisation/").status_code == 409
    case = services.ordered_cases(study, carol)[0]
    assert client.get(f"{BASE}/{study.pk}/cases/{case.pk}/").json()["read"] is None
    assert LocalisationMark.objects.filter(participant=rita).exists()


def test_the_lead_list_costs_the_same_queries_for_more_studies(client, study, alice, carol, truth_cases):
    client.force_login(alice)

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(f"{BASE}/").status_code == 200
        return len(context.captured_queries)

    one = queries()
    for i in range(3):
        services.create_study(
            lead=alice, name=f"more {i}", cohort_name="c", cases=truth_cases[:2], participants=[carol]
        )
    assert client.get(f"{BASE}/").json()["count"] == 4
    assert queries() == one
