"""A study on the output of a really trained (tiny) model: its maps and candidates become the material."""

from __future__ import annotations

import pytest

from ichweb.modeling import inference, training
from ichweb.modeling.models import AttentionMap, PredictionBasis
from ichweb.readerstudy import results, services
from tests.modeling.conftest import TINY
from tests.modeling.test_pipeline import drive
from tests.readerstudy.conftest import answer_all, localise_all, read_all

pytestmark = pytest.mark.django_db


def test_material_from_a_trained_model_and_its_questionnaire(
    truth_cases, alice, carol, rita, settings, one_torch_thread
):
    run = drive(training.start_run(user=alice, recipe="lite", overrides=TINY))
    version = run.model_version
    bundle, _ = inference._load(version.pk, version.directory)
    bundle.manifest["thresholds"] = dict.fromkeys(version.label_order, 0.0)  # the tiny net is barely trained
    try:
        for case in truth_cases:
            job = inference.request_inference(case.series, version, user=alice)
            assert inference.run_job(job.pk, job.attempt) == "succeeded"
    finally:
        inference._load.cache_clear()
    study, report = services.create_study(
        lead=alice,
        name="On a trained model",
        cohort_name="Phantoms",
        cases=truth_cases,
        participants=[carol, rita],
        consensus=[carol, rita],
        model_version=version,
    )
    assert report.items == report.ich_cases > 0 and not report.without_inference
    for item in study.items.all():
        maps = AttentionMap.objects.filter(job__series=item.case.series, label="ANY")
        assert item.probability == max(m.probability for m in maps)
        candidates = PredictionBasis.objects.filter(
            attention_map__in=maps.filter(index=item.slice.index), kind=PredictionBasis.Kind.CANDIDATE
        )
        assert [c.rank for c in item.candidates.all()] == sorted(c.rank for c in candidates)
        assert len(candidates) == 4
    for user in (carol, rita):
        read_all(study, user)
        localise_all(study, user)
        answer_all(study, user)
    doc = results.study_results(study)
    assert doc["questionnaire"]["model"][0]["agreement"]["p"] == 1.0
    assert all(row["finished"] for row in doc["progress"])
