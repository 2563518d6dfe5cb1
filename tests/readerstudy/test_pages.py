"""Reader-study pages: the list, the lead's form and study page, the participant's task pages."""

from __future__ import annotations

import pytest

from ichweb.readerstudy.models import ReaderStudy
from tests.readerstudy.conftest import localise_all, read_all

pytestmark = pytest.mark.django_db


def test_the_list_shows_a_participant_their_studies_only(client, study, carol, ralph, bob, mallory):
    client.force_login(carol)
    page = client.get("/reader-studies/")
    assert page.status_code == 200 and study.name in page.text and "0 / 6" in page.text
    assert "New reader study" not in page.text
    client.force_login(ralph)
    assert "not a participant of any reader study" in client.get("/reader-studies/").text
    for outsider in (bob, mallory):
        client.force_login(outsider)
        assert client.get("/reader-studies/").status_code == 403


def test_a_lead_creates_a_study_with_the_form(client, alice, carol, rita, truth_cases, model_material):
    client.force_login(alice)
    form = client.get("/reader-studies/new/")
    assert form.status_code == 200 and "Sentinel model" in form.text
    data = {
        "name": "Form study",
        "cohort_name": "Phantoms",
        "cohort_kind": "retrospective",
        "cases": [c.pk for c in truth_cases[:4]],
        "participants": [carol.pk, rita.pk],
        "consensus": [carol.pk],
        "model_version": model_material.version.pk,
        "material_label": "ANY",
        "slices_per_case": 1,
        "merge_radius_px": 8,
    }
    page = client.post("/reader-studies/new/", data)
    assert page.status_code == 200 and "choose exactly two participants" in page.text
    assert not ReaderStudy.objects.exists()
    response = client.post("/reader-studies/new/", {**data, "consensus": [carol.pk, rita.pk]})
    study = ReaderStudy.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reader-studies/{study.pk}/"
    assert study.cases.count() == 4 and study.merge_radius_px == 8 and not study.answers_changeable
    page = client.get(response["Location"])
    assert "Rebuild material" in page.text and "carol" in page.text and "Results" in page.text


def test_a_lead_rebuilds_material_and_unlocks_answers_a_participant_cannot(client, study, alice, carol):
    client.force_login(carol)
    assert client.post(f"/reader-studies/{study.pk}/", {"action": "unlock"}).status_code == 403
    client.force_login(alice)
    client.post(f"/reader-studies/{study.pk}/", {"action": "unlock"})
    study.refresh_from_db()
    assert study.answers_changeable
    read_all(study, carol)
    localise_all(study, carol)
    page = client.post(f"/reader-studies/{study.pk}/", {"action": "material"}, follow=True)
    assert "cannot change" in page.text


def test_task_pages_follow_the_participant_and_the_consensus_pair(client, study, carol, ralph, alice):
    client.force_login(carol)
    page = client.get(f"/reader-studies/{study.pk}/")
    assert "opens when every case is read" in page.text and "Consensus of bleeding points" in page.text
    task = client.get(f"/reader-studies/{study.pk}/read/")
    assert task.status_code == 200 and f'data-api-url="/api/v1/reader-studies/{study.pk}/cases"' in task.text
    assert client.get(f"/reader-studies/{study.pk}/nonsense/").status_code == 404
    study.participants.add(ralph)
    client.force_login(ralph)
    assert client.get(f"/reader-studies/{study.pk}/consensus/").status_code == 403
    client.force_login(alice)
    assert client.get(f"/reader-studies/{study.pk}/consensus/").status_code == 200
    assert client.get(f"/reader-studies/{study.pk}/read/").status_code == 404  # not a participant
