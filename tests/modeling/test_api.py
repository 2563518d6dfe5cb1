"""Modeling API and pages: who may manage, who may review, field errors, review document."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ichweb.imaging.models import Series
from ichweb.labeling.models import Read
from ichweb.modeling import access
from ichweb.modeling.models import Stage, TrainingRun

pytestmark = pytest.mark.django_db


def test_runs_are_for_leads_only(client, bob, carol, mallory, alice, gt_studies):
    for user in (bob, carol, mallory):
        client.force_login(user)
        assert client.get("/api/v1/modeling/runs/").status_code == 403
        assert client.post("/api/v1/modeling/runs/", {"recipe": "lite"}).status_code == 403
        assert client.get(reverse("modeling:index")).status_code == 403
    client.logout()
    assert client.get("/api/v1/modeling/runs/").status_code in (401, 403)


def test_start_run_via_api_and_field_errors(client, alice, gt_studies, django_capture_on_commit_callbacks):
    client.force_login(alice)
    bad = client.post("/api/v1/modeling/runs/", {"recipe": "nope"}, content_type="application/json")
    assert bad.status_code == 400 and "recipe" in bad.json()
    no_truth = client.post(
        "/api/v1/modeling/runs/", {"recipe": "lite", "projects": [999]}, content_type="application/json"
    )
    assert no_truth.status_code == 400 and "ground truth" in no_truth.json()["projects"][0]
    assert not TrainingRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ok = client.post(
            "/api/v1/modeling/runs/", {"recipe": "lite", "max_epochs": 1}, content_type="application/json"
        )
    assert ok.status_code == 201, ok.content
    assert len(callbacks) == 1  # the first step is sent once the run is committed
    doc = ok.json()
    assert doc["status"] == "queued" and doc["overrides"] == {"max_epochs": 1}
    assert sum(doc["counts"].values()) == len(gt_studies)
    assert client.get(doc["url"]).status_code == 200
    cancel = client.post(f"/api/v1/modeling/runs/{doc['id']}/cancel/")
    assert cancel.json()["status"] == Stage.CANCELLED


def test_run_page_form_reports_errors(client, alice, db):
    client.force_login(alice)
    page = client.post(reverse("modeling:index"), {"recipe": "lite", "val_fraction": "0.2"})
    assert page.status_code == 200
    assert b"no ground truth" in page.content


def test_review_access_labeler_after_submitting_never_reader(client, alice, bob, carol, gt_studies):
    series = Series.objects.filter(kind=Series.Kind.STANDARD).first()
    url = f"/api/v1/modeling/review/{series.pk}/"
    client.force_login(alice)
    doc = client.get(url).json()
    assert doc["job"] is None and doc["series"]["n_slices"] == series.n_slices
    client.force_login(carol)
    assert client.get(url).status_code in (403, 404)
    assert client.get(reverse("modeling:review", args=[series.pk])).status_code == 404
    client.force_login(bob)
    assert client.get(url).status_code == 404
    assert not access.can_review(bob, series)
    read = Read.objects.filter(case__series=series).first()
    read.reader, read.status = bob, Read.Status.SUBMITTED
    read.save()
    assert access.can_review(bob, series)
    assert client.get(url).status_code == 200
    assert client.post("/api/v1/modeling/jobs/", {"series": series.pk}).status_code == 403


def test_request_inference_without_active_model_is_a_field_error(client, alice, gt_studies):
    client.force_login(alice)
    series = Series.objects.first()
    response = client.post("/api/v1/modeling/jobs/", {"series": series.pk}, content_type="application/json")
    assert response.status_code == 400 and "no model is active" in response.json()["model_version"][0]
