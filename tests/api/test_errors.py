"""Malformed requests get a 4xx JSON error naming the field; the unexpected is JSON 500, never HTML."""

from __future__ import annotations

import pytest

from ichweb.labeling.models import Read
from tests.imaging.conftest import phantom_dir  # noqa: F401 -- fixtures
from tests.labeling.conftest import barbara, consensus_project, studies  # noqa: F401 -- fixtures
from tests.modeling.conftest import gt_phantom_dir  # noqa: F401 -- fixtures
from tests.readerstudy.conftest import model_material, rita, study, truth_cases  # noqa: F401 -- fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def read(consensus_project, bob) -> Read:  # noqa: F811
    return Read.objects.filter(reader=bob).order_by("pk").first()


@pytest.mark.parametrize("action", ["submit", "include", "exclude"])
def test_a_write_without_a_version_names_the_field(client, bob, read, action):
    client.force_login(bob)
    body = {"reason": "surgery"} if action == "exclude" else {}
    response = client.post(f"/api/v1/labeling/reads/{read.pk}/{action}", body, "application/json")
    assert response.status_code == 400
    assert "version" in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([None, None], "detail"),
        ({"version": 0, "slices": {"0": ["IPH"]}, "last_slice_index": "abc"}, "last_slice_index"),
        ({"version": "x", "slices": {}}, "version"),
        ({"version": 0, "slices": [1]}, "slices"),
    ],
)
def test_malformed_labels_are_a_field_error(client, bob, read, body, field):
    client.force_login(bob)
    response = client.put(f"/api/v1/labeling/reads/{read.pk}/labels", body, "application/json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("seconds", ["nan", "inf", "abc", -3, [1]])
def test_a_heartbeat_that_is_not_a_finite_number_is_refused(client, bob, read, seconds):
    client.force_login(bob)
    response = client.post(
        f"/api/v1/labeling/reads/{read.pk}/heartbeat", {"seconds": seconds}, "application/json"
    )
    assert response.status_code == 400 and "seconds" in response.json()
    read.refresh_from_db()
    assert read.reading_seconds == 0


def test_a_consensus_with_slices_as_a_list_is_refused(client, alice, consensus_project):  # noqa: F811
    client.force_login(alice)
    case = consensus_project.cases.first()
    url = f"/api/v1/labeling/projects/{consensus_project.pk}/cases/{case.pk}/consensus"
    response = client.post(url, {"slices": [1]}, "application/json")
    assert response.status_code == 400 and "slices" in response.json()


def test_review_ids_that_are_not_ids(client, alice, consensus_project):  # noqa: F811
    client.force_login(alice)
    assert client.get("/api/v1/modeling/review/abc/").status_code == 404
    series = consensus_project.cases.first().series_id
    response = client.get(f"/api/v1/modeling/review/{series}/", {"model": "99999999999999999999999"})
    assert response.status_code == 400 and "model" in response.json()


def test_options_answers_on_views_without_a_serializer(client, carol, study):  # noqa: F811
    client.force_login(carol)
    case = study.cases.first()
    for url in (
        "/api/v1/reader-studies/",
        f"/api/v1/reader-studies/{study.pk}/material/",
        f"/api/v1/reader-studies/{study.pk}/cases/{case.pk}/heartbeat/",
    ):
        response = client.options(url)
        assert response.status_code in (200, 403, 404), url
        assert response["Content-Type"].startswith("application/json")


def test_an_unexpected_error_under_the_api_is_json(client, alice, consensus_project, monkeypatch, settings):  # noqa: F811
    from ichweb.modeling import api

    settings.DEBUG = False

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(api, "review_document", broken)
    client.force_login(alice)
    client.raise_request_exception = False
    series = consensus_project.cases.first().series_id
    response = client.get(f"/api/v1/modeling/review/{series}/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "logged" in response.json()["detail"] and "a bug" not in response.content.decode()


def test_the_server_error_page_is_json_under_the_api(rf):
    from ichweb.errors import server_error

    api = server_error(rf.get("/api/v1/anything"))
    assert api.status_code == 500 and api["Content-Type"] == "application/json"
    page = server_error(rf.get("/studies/"))
    assert page.status_code == 500 and "text/html" in page["Content-Type"]
