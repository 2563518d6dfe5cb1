"""The reader study on the lead's dashboards: reader points, agreement, basis agreement, localisation."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from ichweb.analytics import services
from ichweb.readerstudy.truth import case_truths
from tests.readerstudy.conftest import answer_all, localise_all, read_all

pytestmark = pytest.mark.django_db


def test_readerstudy_panel_and_cohort(study, carol, rita, alice, client):
    truths = case_truths(study.cases.all())
    read_all(study, carol, call=lambda c: truths[c.pk].ich)
    read_all(study, rita)  # ICH everywhere
    for user in (carol, rita):
        localise_all(study, user)
        answer_all(study, user)
    doc = services.readerstudy_panel(study, "ANY")
    points = {p["name"]: p for p in doc["readers"]}
    assert points["carol"] == {"name": "carol", "fpr": 0.0, "tpr": 1.0, "n": 6}
    assert points["rita"]["fpr"] == 1.0
    cases = sorted(truths)
    carol_calls = [int(truths[c].ich) for c in cases]
    rita_calls = [1 for _ in cases]
    kappa = doc["agreement"]["kappa_matrix"][0][1]
    assert kappa == pytest.approx(cohen_kappa_score(carol_calls, rita_calls), abs=1e-3)
    assert [r["participant"] for r in doc["basis_vs_model"]] == ["carol", "rita"]
    assert all(r["agreement"] == 1.0 for r in doc["basis_vs_model"])  # both picked the model's choice
    assert doc["localisation"]["n_items"] >= 1
    assert {r["participant"] for r in doc["table"]} == {"carol", "rita"}

    series = services.cohort_series(f"readerstudy:{study.pk}")
    assert sorted(series) == sorted(study.cases.values_list("series_id", flat=True))
    client.force_login(alice)
    response = client.get("/api/v1/analytics/readerstudy/", {"study": study.pk, "format": "csv"})
    assert response.status_code == 200 and b"sensitivity_lo" in response.content
    assert (
        client.get(
            "/api/v1/analytics/readerstudy/", {"study": study.pk}, HTTP_ACCEPT="application/json"
        ).json()["study"]["id"]
        == study.pk
    )
