"""The aided arm over HTTP: the model's output only once the aided read is open, the unaided answer locked
from then on (409), the lists and gates of each design, and every new route as every role."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from ichweb.modeling.models import AttentionMap
from ichweb.readerstudy import plan, services
from ichweb.readerstudy.models import CaseRead
from ichweb.readerstudy.mrmc_results import PANELS
from tests.readerstudy.conftest import CASE_PROB, read_all, read_both

pytestmark = [pytest.mark.django_db, pytest.mark.pg]

BASE = "/api/v1/reader-studies"
READ = {"ich": True, "subtypes": ["IPH"], "confidence": 70}


def _put(client, url, body):
    return client.put(url, body, content_type="application/json")


def aided_routes(study, case) -> list[str]:
    """Every GET route of the aided arm of ``case``."""
    base = f"{BASE}/{study.pk}/aided-cases/{case.pk}"
    return [
        f"{base}/",
        f"{base}/slices/2/image.png",
        f"{base}/slices/2/overlay.png",
        f"{base}/exemplars/1/patch.png",
        f"{base}/exemplars/1/map.png",
    ]


def test_a_sequential_read_unaided_then_aided_and_the_unaided_answer_locks(client, sequential_study, carol):
    client.force_login(carol)
    study = sequential_study
    case = services.ordered_cases(study, carol)[0]
    rows = client.get(f"{BASE}/{study.pk}/cases/").json()["results"]
    assert len(rows) == 6 and (rows[0]["id"], rows[0]["modality"], rows[0]["submitted"]) == (
        case.pk,
        "unaided",
        False,
    )
    unaided = client.get(rows[0]["url"]).json()
    assert unaided["modality"] == "unaided" and "model" not in unaided
    assert unaided["aided"] == {
        "url": f"{BASE}/{study.pk}/aided-cases/{case.pk}",
        "open": False,
        "opened": False,
        "submitted": False,
    }
    for url in aided_routes(study, case):
        response = client.get(url)
        assert response.status_code == 409 and "unaided read of this case first" in response.json()["detail"]
    assert _put(client, f"{BASE}/{study.pk}/aided-cases/{case.pk}/read", READ).status_code == 409

    answered = _put(client, f"{BASE}/{study.pk}/cases/{case.pk}/read", {**READ, "confidence": 55}).json()
    assert answered["aided"]["open"] is True and answered["aided"]["opened"] is False
    aided = client.get(answered["aided"]["url"]).json()
    assert aided["modality"] == "aided" and aided["editable"] is True and aided["read"] is None
    assert aided["unaided"]["read"] == {"ich": True, "subtypes": ["IPH"], "confidence": 55}
    model = aided["model"]
    assert model["case"]["ANY"] == {"probability": CASE_PROB, "threshold": 0.5, "call": True}
    assert [o["index"] for o in model["overlays"]] == [2, 5] and len(model["exemplars"]) == 2
    assert not {"source_series", "source_slice_index", "rank", "distance"} & {
        k for e in model["exemplars"] for k in e
    }

    # From now on the unaided answer cannot change, even where the study allows changes.
    study.answers_changeable = True
    study.save()
    refused = _put(client, f"{BASE}/{study.pk}/cases/{case.pk}/read", {**READ, "ich": False, "subtypes": []})
    assert refused.status_code == 409 and "seen the model's output" in refused.json()["detail"]
    assert client.get(f"{BASE}/{study.pk}/cases/{case.pk}/").json()["editable"] is False
    done = _put(client, f"{BASE}/{study.pk}/aided-cases/{case.pk}/read", {**READ, "confidence": 95}).json()
    assert done["read"]["confidence"] == 95
    assert CaseRead.objects.get(case=case, participant=carol, modality="unaided").confidence == 55
    assert client.get(f"{BASE}/{study.pk}/cases/").json()["results"][0]["submitted"] is True


def test_the_aided_images_are_the_frozen_model_output(client, sequential_study, carol):
    client.force_login(carol)
    case = services.ordered_cases(sequential_study, carol)[0]
    services.submit_read(case, carol, ich=True, subtypes=[], confidence=50)
    doc = client.get(f"{BASE}/{sequential_study.pk}/aided-cases/{case.pk}/").json()
    overlay = client.get(doc["model"]["overlays"][1]["url"])
    amap = AttentionMap.objects.get(job__series=case.series, index=5, label="ANY")
    assert overlay.status_code == 200 and overlay.content == Path(amap.overlay_path).read_bytes()
    assert (
        client.get(f"{BASE}/{sequential_study.pk}/aided-cases/{case.pk}/slices/3/overlay.png").status_code
        == 404
    )
    exemplar = doc["model"]["exemplars"][0]
    assert client.get(exemplar["patch_url"]).content.startswith(b"\x89PNG")
    assert (
        client.get(f"{BASE}/{sequential_study.pk}/aided-cases/{case.pk}/exemplars/9/map.png").status_code
        == 404
    )
    assert client.get(doc["slices"][0]["image_url"]).content.startswith(b"\x89PNG")
    beat = client.post(f"{doc['url']}/heartbeat", {"seconds": 12}, content_type="application/json")
    assert beat.status_code == 204
    assert CaseRead.objects.get(case=case, participant=carol, modality="aided").reading_seconds == 12
    frozen = case.aided.slices.first()
    assert Path(settings.MEDIA_ROOT, frozen.overlay_file).is_file() and "readerstudies" in frozen.overlay_file


def test_aided_routes_are_404_for_every_non_participant_and_in_an_unaided_study(
    client, sequential_study, study, carol, ralph, bob, alice, dan, mallory
):
    read_both(sequential_study, carol)
    case = sequential_study.cases.first()
    for user in (ralph, bob, alice, dan, mallory):
        client.force_login(user)
        for url in aided_routes(sequential_study, case):
            assert client.get(url).status_code == 404, (user, url)
        assert (
            _put(client, f"{BASE}/{sequential_study.pk}/aided-cases/{case.pk}/read", READ).status_code == 404
        )
    client.force_login(carol)
    unaided_case = study.cases.first()
    read_all(study, carol)
    for url in aided_routes(study, unaided_case):
        assert client.get(url).status_code == 404, url


def test_the_comparison_routes_are_for_leads_and_admins(
    client, sequential_study, carol, ralph, bob, alice, dan
):
    urls = [
        f"{BASE}/{sequential_study.pk}/mrmc/",
        f"{BASE}/{sequential_study.pk}/readings.csv",
        *[f"{BASE}/{sequential_study.pk}/mrmc/{panel}/" for panel in PANELS],
    ]
    for user in (carol, ralph, bob):
        client.force_login(user)
        assert all(client.get(url).status_code == 403 for url in urls), user
    for user in (alice, dan):
        client.force_login(user)
        assert all(client.get(url).status_code == 200 for url in urls), user
    assert client.get(f"{BASE}/{sequential_study.pk}/mrmc/nonsense/").status_code == 404
    assert client.get(f"{BASE}/999999/mrmc/").status_code == 404


def test_a_crossover_list_shows_the_session_and_refuses_session_2_before_its_time(
    client, crossover_study, carol
):
    client.force_login(carol)
    url = f"{BASE}/{crossover_study.pk}/cases/"
    rows = client.get(url).json()["results"]
    assert len(rows) == 6 and {r["session"] for r in rows} == {1}
    assert sorted(r["modality"] for r in rows) == ["aided"] * 3 + ["unaided"] * 3
    for row in rows:
        arm = "aided-cases" if row["modality"] == "aided" else "cases"
        assert row["url"] == f"{BASE}/{crossover_study.pk}/{arm}/{row['id']}"
    first_aided = next(r for r in rows if r["modality"] == "aided")
    doc = client.get(first_aided["url"]).json()
    assert doc["session"] == 1 and doc["sessions"] == 2 and doc["unaided"] is None and doc["model"]
    # The same case unaided is a read of session 2: closed, and so is the whole session.
    unaided_later = client.get(f"{BASE}/{crossover_study.pk}/cases/{first_aided['id']}/")
    assert unaided_later.status_code == 409 and "finish session 1 first" in unaided_later.json()["detail"]
    assert client.get(url, {"session": 2}).status_code == 409
    assert client.get(url, {"session": 3}).json().keys() == {"session"}
    first_unaided = next(r for r in rows if r["modality"] == "unaided")
    assert client.get(f"{BASE}/{crossover_study.pk}/aided-cases/{first_unaided['id']}/").status_code == 409
    for p in plan.session_plan(crossover_study, carol, 1):
        services.submit_read(p.case, carol, ich=True, subtypes=[], confidence=50, modality=p.modality)
    refused = client.get(url)
    assert refused.status_code == 409 and "washout of 14 days" in refused.json()["detail"]
    assert client.get(url, {"session": 1}).json()["count"] == 6


def test_a_lead_creates_a_sequential_study_and_the_api_names_a_missing_model(
    client, alice, carol, truth_cases, model_material
):
    client.force_login(alice)
    body = {
        "name": "Aided",
        "cohort_name": "c",
        "cases": [c.pk for c in truth_cases],
        "participants": ["carol"],
        "design": "sequential",
        "model_version": None,
    }
    response = client.post(f"{BASE}/", body, content_type="application/json")
    assert response.status_code == 400 and "model_version" in response.json()
    assert "choose a model version" in response.json()["model_version"][0]
    response = client.post(
        f"{BASE}/", {**body, "model_version": model_material.version.pk}, content_type="application/json"
    )
    assert response.status_code == 201 and response.json()["design"] == "sequential"
    assert response.json()["mrmc_url"].endswith("/mrmc")
    assert (
        "design"
        in client.post(f"{BASE}/", {**body, "design": "later"}, content_type="application/json").json()
    )
