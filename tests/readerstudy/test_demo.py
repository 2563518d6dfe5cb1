"""The reader-study demo seed: a sequential study with synthetic reads whose comparison runs at once."""

from __future__ import annotations

import io

import pytest

from ichweb.readerstudy import demo, mrmc_results
from ichweb.readerstudy.models import CaseRead, ReaderStudy

pytestmark = pytest.mark.django_db


def test_the_demo_seed_makes_a_sequential_study_the_results_analyse(
    truth_cases, model_material, alice, carol
):
    out = io.StringIO()
    demo.seed(out)
    study = ReaderStudy.objects.get()
    assert study.design == "sequential" and study.model_version == model_material.version
    assert sorted(u.username for u in study.participants.all()) == ["carol", *demo.DEMO_READERS]
    reads = CaseRead.objects.filter(case__study=study)
    assert reads.count() == len(demo.DEMO_READERS) * 6 * 2 and not reads.filter(participant=carol).exists()
    assert all(r.submitted_at and r.opened_at and r.reading_seconds > 0 for r in reads)
    doc = mrmc_results.mrmc_document(study)
    assert doc["analysis"]["available"], doc["analysis"]["reason"]
    assert doc["without_readings"] == ["carol"]
    assert all(doc["panels"][name]["available"] for name in ("roc", "difference", "operating_points"))
    power = doc["panels"]["power"]  # on six cases the reader variance may cap the power: then it says so
    assert power["available"] or "add readers" in power["reason"]
    assert "synthetic reads" in out.getvalue()

    # Deterministic: the same cohort gives the same reads; a second run leaves the study alone.
    first = sorted(reads.values_list("participant__username", "case_id", "modality", "ich", "confidence"))
    reads.delete()
    demo.synthetic_reads(study, list(study.participants.exclude(pk=carol.pk).order_by("username")))
    again = CaseRead.objects.filter(case__study=study)
    assert (
        sorted(again.values_list("participant__username", "case_id", "modality", "ich", "confidence"))
        == first
    )
    demo.seed(out)
    assert ReaderStudy.objects.count() == 1 and "already present" in out.getvalue()
    for user in demo.demo_readers():
        assert not user.has_usable_password()


def test_the_demo_seed_skips_without_a_model(truth_cases, alice, carol):
    out = io.StringIO()
    demo.seed(out)
    assert not ReaderStudy.objects.exists() and "skipped" in out.getvalue()
