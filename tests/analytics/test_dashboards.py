"""Dashboard panels: the numbers equal the reference implementations; CSV and JSON; leads only."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from ichweb.analytics import services

pytestmark = pytest.mark.django_db


def test_roc_panel_matches_sklearn_and_reports_cis(cohort):
    doc = services.roc_panel(cohort.version, f"test:{cohort.version.pk}", "ANY")
    y = [cohort.truth[s] for s in cohort.series]
    p = [cohort.scores[s] for s in cohort.series]
    assert doc["n_cases"] == len(cohort.series) and doc["n_positive"] == sum(y)
    assert doc["auc"]["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-4)
    lo, hi = doc["auc"]["delong"]
    assert lo <= doc["auc"]["value"] <= hi
    assert doc["operating_point"]["sensitivity"]["n"] == sum(y)
    assert doc["curve"]["fpr"][0] == 0 and doc["curve"]["tpr"][-1] == 1
    assert doc["table"] and {"threshold", "fpr", "tpr"} <= set(doc["table"][0])


def test_pr_and_summary_panels(cohort):
    pr = services.pr_panel(cohort.version, f"test:{cohort.version.pk}", "ANY", 0.5)
    assert 0 < pr["average_precision"] <= 1 and pr["table"]
    summary = services.summary_table(cohort.version, [f"test:{cohort.version.pk}"], ["ANY"])
    (row,) = summary["table"]
    assert row["n"] == len(cohort.series) and row["auc"] is not None


def test_agreement_panel_matches_sklearn_kappa(cohort):
    doc = services.agreement_panel(cohort.project, "ANY", "case")
    assert doc["readers"] == ["barbara", "bob"]
    bob = [1 for _ in cohort.series]
    barbara = [cohort.truth[s] for s in cohort.series]
    expected = cohen_kappa_score(barbara, bob)
    got = doc["kappa_matrix"][0][1]
    assert got == pytest.approx(expected, abs=1e-3) or (np.isnan(expected) and got is None)
    assert doc["percent_agreement"] == pytest.approx(np.mean(np.array(bob) == np.array(barbara)), abs=1e-4)
    progress = services.labeling_progress(cohort.project)
    assert {r["reader"]: r["submitted"] for r in progress["table"]} == {"barbara": 6, "bob": 6}


def test_unknown_cohort_is_a_field_error(cohort):
    with pytest.raises(services.AnalyticsError) as info:
        services.cohort_series("nope")
    assert info.value.field == "cohort"


def test_api_json_csv_and_access(client, cohort, alice, bob, carol):
    for user in (bob, carol):
        client.force_login(user)
        assert client.get("/api/v1/analytics/roc/").status_code == 403
    client.force_login(alice)
    doc = client.get("/api/v1/analytics/roc/", {"label": "ANY"}).json()
    assert doc["model"]["id"] == cohort.version.pk
    response = client.get("/api/v1/analytics/roc/", {"label": "ANY", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == len(doc["table"]) and set(rows[0]) == {"threshold", "fpr", "tpr"}
    bad = client.get("/api/v1/analytics/roc/", {"label": "XYZ"})
    assert bad.status_code == 400 and "label" in bad.json()
    for name in ("options", "pr", "summary", "agreement", "progress"):
        assert client.get(f"/api/v1/analytics/{name}/").status_code == 200, name
    assert client.get("/dashboards/").status_code == 200


def test_case_context_shows_reads_only_when_reading_is_over(cohort, client, alice, bob):
    from ichweb.labeling.models import Read

    series = cohort.series[0]
    doc = services.case_context(series, cohort.version)
    (project,) = [e for e in doc["projects"] if e["project"]["name"] == "Agreement"]
    assert project["reading_over"] and {r["reader"] for r in project["reads"]} == {"bob", "barbara"}
    assert project["model_auc_any"] is not None
    Read.objects.filter(case__series_id=series, reader=bob).update(status=Read.Status.IN_PROGRESS)
    (hidden,) = [
        e
        for e in services.case_context(series, cohort.version)["projects"]
        if e["project"]["name"] == "Agreement"
    ]
    assert not hidden["reading_over"] and "reads" not in hidden
    client.force_login(bob)
    assert client.get(f"/api/v1/analytics/case/{series}/").status_code == 403
