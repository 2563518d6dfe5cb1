"""The comparison of the modalities: the long table is the reads; every number is ``ml.mrmc``'s on that
same table (downloaded as CSV and read back); a study that cannot be analysed says why, in every panel."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from ichweb.analytics import services as analytics
from ichweb.labeling.models import GroundTruthSlice
from ichweb.readerstudy import mrmc_results, results
from ichweb.readerstudy.models import CaseRead
from ichweb.readerstudy.truth import case_truths
from ml import stats
from ml.mrmc import PilotComponents, Readings, cases_for_power, or_analysis, read_readings
from tests.readerstudy.conftest import read_all, read_both
from tests.readerstudy.factories import ReaderStudyFactory

pytestmark = pytest.mark.django_db


def _read_everything(study, carol, rita) -> None:
    """Two readers whose aided reads are better than their unaided ones, with graded confidence."""
    truths = case_truths(study.cases.all())
    positions = {c.pk: c.position for c in study.cases.all()}

    def reader(miss: int, base: int, gain: int):
        def unaided(case):
            truth = truths[case.pk].ich
            return truth != (positions[case.pk] == miss), base + 7 * positions[case.pk]

        def aided(case):
            return truths[case.pk].ich, min(100, base + gain + 5 * positions[case.pk])

        return unaided, aided

    for user, (miss, base, gain) in ((carol, (0, 30, 25)), (rita, (3, 20, 40))):
        unaided, aided = reader(miss, base, gain)
        read_both(study, user, unaided=unaided, aided=aided)
    CaseRead.objects.filter(modality="unaided").update(reading_seconds=80)
    for k, read in enumerate(CaseRead.objects.filter(modality="aided").order_by("pk")):
        CaseRead.objects.filter(pk=read.pk).update(reading_seconds=40 + k)


@pytest.fixture
def analysed(sequential_study, carol, rita):
    _read_everything(sequential_study, carol, rita)
    return sequential_study


def test_the_long_table_is_the_submitted_reads(analysed, client, alice):
    truths = case_truths(analysed.cases.all())
    table = mrmc_results.mrmc_document(analysed)["panels"]["readings"]["table"]
    reads = CaseRead.objects.filter(case__study=analysed).select_related("participant")
    expected = sorted(
        (r.participant.username, r.modality, r.case_id, int(truths[r.case_id].ich), results.ich_score(r))
        for r in reads
    )
    assert sorted(tuple(row[c] for c in mrmc_results.COLUMNS) for row in table) == expected
    assert len(table) == 24 and [row["treatment"] for row in table[:12]] == ["aided"] * 12
    client.force_login(alice)
    response = client.get(f"/api/v1/reader-studies/{analysed.pk}/readings.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="readings.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == list(mrmc_results.COLUMNS)
    assert [
        (r["reader"], r["treatment"], int(r["case"]), int(r["truth"]), float(r["rating"])) for r in rows
    ] == [tuple(row[c] for c in mrmc_results.COLUMNS) for row in table]


def test_the_or_numbers_are_ml_mrmcs_on_the_downloaded_table(analysed, client, alice, tmp_path):
    client.force_login(alice)
    path = tmp_path / "readings.csv"
    path.write_bytes(client.get(f"/api/v1/reader-studies/{analysed.pk}/readings.csv").content)
    expected = or_analysis(read_readings(path))
    doc = client.get(f"/api/v1/reader-studies/{analysed.pk}/mrmc/").json()
    difference = doc["panels"]["difference"]
    (reference,) = expected.to_dict()["differences"]
    assert reference["comparison"] == difference["comparison"] == "aided - unaided"
    for key in ("estimate", "se", "ci_lower", "ci_upper", "df", "p_value"):
        assert difference[key] == pytest.approx(reference[key], rel=1e-12), key
    assert difference["global"] == pytest.approx(expected.to_dict()["global"], rel=1e-12)
    assert difference["estimate"] > 0  # the aided reads are the better ones
    roc = doc["panels"]["roc"]
    for t, modality in enumerate(roc["modalities"]):
        assert modality["auc"] == pytest.approx(float(expected.means[t]), rel=1e-12)
        # The reader-averaged curve's area is the readers' mean AUC; each reader's curve is their own.
        curve = modality["mean_curve"]
        assert np.trapezoid(curve["tpr"], curve["fpr"]) == pytest.approx(modality["auc"], abs=1e-12)
        for r in modality["readers"]:
            mine = [
                row
                for row in doc["panels"]["readings"]["table"]
                if (row["reader"], row["treatment"]) == (r["reader"], modality["treatment"])
            ]
            assert r["auc"] == pytest.approx(
                stats.roc_auc([m["truth"] for m in mine], [m["rating"] for m in mine])
            )
    power = doc["panels"]["power"]
    sized = cases_for_power(PilotComponents.from_result(expected), abs(reference["estimate"]), 2)
    assert (power["cases"], power["readers"]) == (sized.cases, 2) and power["power"] == pytest.approx(
        sized.power
    )
    assert sized.power >= 0.8 and power["pilot_cases"] == 6
    json.dumps(doc, allow_nan=False)


def test_sensitivity_specificity_operating_points_and_reading_time(analysed):
    doc = mrmc_results.mrmc_document(analysed)["panels"]
    rows = mrmc_results.study_readings(analysed)
    calls = Readings.from_records([r.record(rating=float(r.call)) for r in rows])
    for fom in ("sensitivity", "specificity"):
        if not doc["sensitivity_specificity"][fom]["available"]:
            assert (
                "error term" in doc["sensitivity_specificity"][fom]["reason"]
            )  # e.g. every aided call right
            continue
        expected = or_analysis(calls, fom=fom, threshold=0.5)
        got = doc["sensitivity_specificity"][fom]
        assert [m["estimate"] for m in got["modalities"]] == pytest.approx(list(expected.means))
        assert got["difference"]["p_value"] == pytest.approx(expected.differences[0].p_value)
    by_reader = {(p["reader"], p["treatment"]): p for p in doc["operating_points"]["table"]}
    for (reader, treatment), point in by_reader.items():
        mine = [r for r in rows if (r.reader, r.treatment) == (reader, treatment)]
        positives = [r.call for r in mine if r.truth]
        assert point["sensitivity"] == pytest.approx(sum(positives) / len(positives))
        assert point["fpr"] == pytest.approx(1 - point["specificity"])
    assert by_reader[("carol", "aided")]["sensitivity"] == 1.0 and len(by_reader) == 4
    assert doc["operating_points"]["model"]["n"] == 6
    aided = [r.seconds for r in rows if r.treatment == "aided"]
    arms = {a["treatment"]: a for a in doc["reading_time"]["arms"]}
    q1, median, q3 = np.percentile(aided, [25, 50, 75])
    assert arms["aided"] == {
        "treatment": "aided",
        "n": 12,
        "median": round(median, 1),
        "q1": round(q1, 1),
        "q3": round(q3, 1),
    }
    assert arms["unaided"]["median"] == 80.0


def test_a_study_that_cannot_be_analysed_says_why_in_every_panel(study, sequential_study, carol, rita):
    def reasons(target) -> dict[str, str | None]:
        doc = mrmc_results.mrmc_document(target)
        json.dumps(doc, allow_nan=False)
        return {name: panel["reason"] for name, panel in doc["panels"].items()}

    nothing = reasons(sequential_study)
    assert "no readings" in nothing["difference"] and nothing["readings"] == "no submitted reads yet"
    read_all(study, carol)
    read_all(study, rita)
    unaided_only = reasons(study)
    assert "only one treatment ('unaided')" in unaided_only["difference"]
    assert unaided_only["roc"] == unaided_only["power"] == unaided_only["difference"]
    assert unaided_only["reading_time"] is None  # the reading time of one arm is still told

    read_both(sequential_study, carol)
    one_reader = reasons(sequential_study)
    assert "one reader only" in one_reader["difference"] and "add readers" in one_reader["difference"]
    read_both(sequential_study, rita, limit=2)
    incomplete = reasons(sequential_study)
    assert "'rita'" in incomplete["difference"] and "skipped" in incomplete["difference"]


def test_cases_of_one_class_are_refused_with_the_reason(alice, carol, rita, truth_cases, model_material):
    positive = {
        s.ground_truth.case_id for s in GroundTruthSlice.objects.select_related("ground_truth") if s.codes
    }
    ich_only = [c for c in truth_cases if c.pk in positive]
    assert 1 < len(ich_only) < len(truth_cases)
    target = ReaderStudyFactory(
        lead=alice,
        cases=ich_only,
        participants=[carol, rita],
        model_version=model_material.version,
        design="sequential",
    )
    for user in (carol, rita):
        read_both(
            target, user, unaided=lambda c: (True, 10 + c.position), aided=lambda c: (True, 90 - c.position)
        )
    doc = mrmc_results.mrmc_document(target)
    assert not doc["analysis"]["available"] and "are diseased" in doc["analysis"]["reason"]
    assert doc["panels"]["operating_points"]["reason"].startswith("no reader has reads of cases both")


def test_the_results_page_and_the_dashboards_panel_show_the_comparison(analysed, client, alice):
    client.force_login(alice)
    page = client.get(f"/reader-studies/{analysed.pk}/results/")
    assert page.status_code == 200 and "Aided against unaided reads (MRMC)" in page.text
    assert (
        'id="rs-arrows"' in page.text and "readings.csv" in page.text and "cases</strong> give" in page.text
    )
    doc = analytics.readerstudy_mrmc_panel(analysed)
    quantities = [row["quantity"] for row in doc["table"]]
    assert quantities[:3] == ["AUC", "AUC", "AUC difference"] and quantities[-1] == "cases for 80% power"
    assert doc["links"]["roc"] == f"/api/v1/reader-studies/{analysed.pk}/mrmc/roc"
    response = client.get("/api/v1/analytics/mrmc/", {"study": analysed.pk, "format": "csv"})
    assert response.status_code == 200 and response.content.startswith(b"quantity,modality,estimate")
    body = client.get(
        "/api/v1/analytics/mrmc/", {"study": analysed.pk}, HTTP_ACCEPT="application/json"
    ).json()
    assert body["panels"]["difference"]["available"] is True
    panel_csv = client.get(f"/api/v1/reader-studies/{analysed.pk}/mrmc/reading_time/", {"format": "csv"})
    assert panel_csv.content.decode().splitlines()[0] == "treatment,reader,n,median,q1,q3"
    assert 'filename="reading_time.csv"' in panel_csv["Content-Disposition"]


def test_the_dashboards_panel_without_a_study(client, alice):
    client.force_login(alice)
    assert (
        client.get("/api/v1/analytics/mrmc/", HTTP_ACCEPT="application/json").json()["note"]
        == "no reader study yet"
    )


def test_unaided_results_leave_the_aided_reads_out(analysed):
    performance = results.reader_performance(analysed)
    assert all(row["n_read"] == 6 and row["complete"] for row in performance["participants"])
