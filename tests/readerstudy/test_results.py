"""Results of a study, checked against numbers worked out by hand and against ``ml.stats`` directly."""

from __future__ import annotations

import json

import pytest

from ichweb.readerstudy import access, consensus, results, services
from ichweb.readerstudy.truth import case_truths
from ml import stats
from tests.readerstudy.conftest import MAP_CENTRE, answer_all, localise_all, read_all

pytestmark = pytest.mark.django_db


def test_reader_performance_against_ground_truth(study, carol, rita):
    truths = case_truths(study.cases.all())
    positives = [pk for pk, t in truths.items() if t.ich]
    negatives = [pk for pk, t in truths.items() if not t.ich]
    missed = positives[0]
    # carol misses one ICH case and calls one negative case positive; rita calls every case positive.
    read_all(study, carol, confidence=60, call=lambda c: truths[c.pk].ich != (c.pk in (missed, negatives[0])))
    read_all(study, rita, confidence=100)
    doc = results.reader_performance(study)
    assert doc["n_cases"] == 6 and doc["n_ich"] == len(positives)
    assert doc["model"] == {"n": 6, "auc": 0.5, "fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}  # one score for all
    carol_row, rita_row = doc["participants"]
    assert carol_row["participant"] == "carol" and carol_row["complete"]
    sens, spec = carol_row["ich"]["sensitivity"], carol_row["ich"]["specificity"]
    assert (sens["k"], sens["n"]) == (len(positives) - 1, len(positives))
    assert (spec["k"], spec["n"]) == (len(negatives) - 1, len(negatives))
    p, lo, hi = stats.proportion_ci(sens["k"], sens["n"], "wilson")
    assert sens["p"] == pytest.approx(p, abs=1e-6) and sens["wilson"] == pytest.approx([lo, hi], abs=1e-6)
    wald = list(stats.proportion_ci(sens["k"], sens["n"], "wald")[1:])
    assert sens["wald"] == pytest.approx(wald, abs=1e-6)
    assert carol_row["ich"]["point"] == pytest.approx({"fpr": 1 - spec["p"], "tpr": sens["p"]}, abs=1e-6)
    scores = {s["case"]: s["score"] for s in carol_row["scores"]}
    assert scores[missed] == 20 and scores[negatives[0]] == 80  # 50 -/+ 60 / 2
    y = [s["truth"] for s in carol_row["scores"]]
    assert carol_row["roc"]["auc"] == pytest.approx(
        stats.roc_auc(y, [s["score"] for s in carol_row["scores"]])
    )
    assert rita_row["ich"]["specificity"]["p"] == 0 and rita_row["ich"]["point"] == {"fpr": 1.0, "tpr": 1.0}
    iph = rita_row["subtypes"]["IPH"]["sensitivity"]
    assert iph["n"] == sum("IPH" in t.subtypes for t in truths.values()) and iph["p"] in (1.0, None)
    json.dumps(doc, allow_nan=False)


def test_questionnaire_agreement_and_kappa(study, carol, rita):
    for user in (carol, rita):
        read_all(study, user)
        localise_all(study, user)
    items = list(access.questionnaire_items(study))
    # carol always picks the model's (lowest-distance) set; rita the highest-distance set on the first item.
    answer_all(study, carol)

    def rita_choice(options):
        first = options[0][1].item_id == items[0].pk
        return max(options, key=lambda o: o[1].rank)[0] if first else min(options, key=lambda o: o[1].rank)[0]

    answer_all(study, rita, rita_choice)
    doc = results.questionnaire_agreement(study)
    assert doc["n_items"] == len(items)
    carol_row, rita_row = doc["model"]
    assert carol_row["agreement"]["p"] == 1.0 and carol_row["n"] == len(items)
    assert rita_row["agreement"]["k"] == len(items) - 1
    # Against the model the categories are the letters shown; kappa as ml.stats computes it.
    letters, model = [], []
    for item in items:
        options = services.options(study, rita, item)
        model.append(min(options, key=lambda o: o[1].rank)[0])
        letters.append(rita_choice(options))
    expected = stats.cohen_kappa(letters, model, list("abcd"))
    assert rita_row["kappa"]["kappa"] == pytest.approx(expected.kappa, abs=1e-6)
    assert rita_row["kappa"]["n"] == len(items)
    (pair,) = doc["pairs"]
    assert (pair["first"], pair["second"], pair["n"]) == ("carol", "rita", len(items))
    assert pair["agreement"]["k"] == len(items) - 1
    slots_carol, slots_rita = [0] * len(items), [3] + [0] * (len(items) - 1)
    assert pair["kappa"]["kappa"] == pytest.approx(
        stats.cohen_kappa(slots_carol, slots_rita, [0, 1, 2, 3]).kappa
    )
    json.dumps(doc, allow_nan=False)


def test_localisation_overlap_of_the_reference_points(study, carol, rita, alice):
    for user in (carol, rita):
        read_all(study, user)
    inside, outside = list(MAP_CENTRE), [2.0, 2.0]
    ring = [MAP_CENTRE[0] + 12, MAP_CENTRE[1]]  # 40 of 255 there: under 20 % of the maximum
    localise_all(study, carol, [inside])
    localise_all(study, rita, [inside, outside, ring])
    items = list(study.items.order_by("position"))
    consensus.record_reference(items[0], alice, [inside, outside])
    consensus.record_reference(items[1], alice, [inside, outside, ring, inside])
    doc = results.localisation_overlap(study)
    assert doc["n_items"] == len(items) and doc["n_with_reference"] == 2
    reference = doc["reference"]
    assert reference["overall"] == {"inside": 3, "total": 6, "percent": 50.0}
    assert reference["slices_1_2_points"] == {"inside": 1, "total": 2, "percent": 50.0}
    assert reference["slices_3plus_points"] == {"inside": 2, "total": 4, "percent": 50.0}
    carol_row, rita_row = doc["participants"]
    assert carol_row["overall"] == {"inside": len(items), "total": len(items), "percent": 100.0}
    assert rita_row["slices_3plus_points"]["inside"] == len(items)
    assert rita_row["overall"]["total"] == 3 * len(items)


def test_study_results_is_one_json_document_even_before_anyone_answered(study):
    doc = results.study_results(study)
    assert set(doc) == {"study", "progress", "reads", "questionnaire", "localisation"}
    assert doc["progress"][0]["reads"] == {"done": 0, "total": 6, "open": True}
    assert doc["reads"]["participants"][0]["roc"] is None
    assert doc["questionnaire"]["model"][0]["kappa"]["kappa"] is None
    assert doc["localisation"]["reference"]["overall"]["percent"] is None
    json.dumps(doc, allow_nan=False)


def test_results_are_for_leads(client, study, alice, carol):
    client.force_login(carol)
    assert client.get(f"/api/v1/reader-studies/{study.pk}/results/").status_code == 403
    assert client.get(f"/reader-studies/{study.pk}/results/").status_code == 403
    client.force_login(alice)
    assert client.get(f"/api/v1/reader-studies/{study.pk}/results/").json()["study"]["id"] == study.pk
    page = client.get(f"/reader-studies/{study.pk}/results/")
    assert page.status_code == 200 and "Case reads against ground truth" in page.text
