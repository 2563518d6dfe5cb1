"""The modeling pipeline in-process: snapshot -> train steps -> assembly -> model -> inference -> review."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from ichweb.imaging.models import Series
from ichweb.modeling import datasets, inference, recovery, training
from ichweb.modeling.models import (
    AtlasEntry,
    AttentionMap,
    InferenceJob,
    ModelVersion,
    PredictionBasis,
    SlicePrediction,
    Stage,
    TrainingRun,
)
from ml.labels import LABELS
from tests.modeling.conftest import TINY

pytestmark = pytest.mark.django_db


def drive(run: TrainingRun, max_steps: int = 10) -> TrainingRun:
    """Run the steps a worker would, in this process (the dispatch's on_commit never fires in a test)."""
    for _ in range(max_steps):
        run.refresh_from_db()
        if run.finished:
            return run
        training.run_step(run.pk, run.attempt)
    run.refresh_from_db()
    return run


def test_snapshot_freezes_labels_and_splits_by_patient(gt_studies):
    snap = datasets.make_snapshot(val_fraction=0.2, test_fraction=0.2, seed=0)
    assert len(snap["cases"]) == len(gt_studies)
    assert {c["split"] for c in snap["cases"]} == {"train", "val", "test"}
    any_col = LABELS.index("ANY")
    for case in snap["cases"]:
        rows = case["labels"]
        assert all(row[any_col] == max(row[:any_col]) for row in rows)
    patients: dict[str, set[str]] = {}
    for case in snap["cases"]:
        patients.setdefault(case["patient"], set()).add(case["split"])
    assert all(len(splits) == 1 for splits in patients.values())
    assert datasets.snapshot_sha256(snap) == datasets.snapshot_sha256(snap)


def test_no_ground_truth_is_a_field_error(db):
    with pytest.raises(datasets.DatasetError) as info:
        datasets.make_snapshot()
    assert info.value.field == "projects"
    assert "ground truth" in str(info.value)


def test_unknown_override_is_refused(gt_studies, alice):
    with pytest.raises(training.TrainingError, match="cannot override lr"):
        training.start_run(user=alice, recipe="lite", overrides={"lr": 1.0})
    assert not TrainingRun.objects.exists()


def test_full_pipeline_in_process(gt_studies, alice, settings, one_torch_thread):
    run = training.start_run(user=alice, recipe="lite", overrides=TINY)
    assert run.status == Stage.QUEUED and run.attempt == 1
    run = drive(run)
    assert run.status == Stage.SUCCEEDED, run.error
    assert run.progress["archs"]["tiny"]["done"] is True
    assert [h["epoch"] for h in run.progress["history"]] == [1, 2]

    version = ModelVersion.objects.get(run=run)
    assert version.is_active
    assert version.label_order == list(LABELS)
    assert "bundle/bundle.json" in version.artifacts and "atlas/atlas.json" in version.artifacts
    assert all(len(d) == 64 for d in version.artifacts.values())
    assert version.metrics["validation"]["val_map"] is not None
    assert version.metrics["test"]["n_cases"] >= 1
    assert AtlasEntry.objects.filter(model_version=version).exists()

    # Force maps: every label's threshold at 0 (the tiny net is barely trained).
    series = Series.objects.filter(kind=Series.Kind.STANDARD).first()
    settings.ICHWEB_MAX_MAPS_PER_JOB = 3
    job = inference.request_inference(series, user=alice)
    bundle, _ = inference._load(version.pk, version.directory)
    bundle.manifest["thresholds"] = dict.fromkeys(version.label_order, 0.0)
    assert inference.run_job(job.pk, job.attempt) == "succeeded"
    job.refresh_from_db()
    assert job.status == Stage.SUCCEEDED
    assert SlicePrediction.objects.filter(job=job).count() == series.n_slices
    assert set(job.case_probabilities) == set(LABELS)
    maps = list(AttentionMap.objects.filter(job=job))
    assert len(maps) == 3
    for amap in maps:
        path = settings.MEDIA_ROOT / amap.file
        with Image.open(path) as img:
            assert img.size == (series.columns, series.rows) and img.mode == "L"
    assert PredictionBasis.objects.filter(attention_map__job=job, kind=PredictionBasis.Kind.TOP).exists()
    inference._load.cache_clear()

    # Re-running replaces the results of that model, never duplicates them.
    job2 = inference.request_inference(series, user=alice)
    assert job2.pk == job.pk and job2.attempt == job.attempt + 1
    assert not SlicePrediction.objects.filter(job=job).exists()
    assert InferenceJob.objects.filter(series=series).count() == 1
    assert inference.run_job(job.pk, job.attempt) == "stale"  # the old delivery is ignored


def test_stale_and_duplicate_deliveries_do_nothing(gt_studies, alice, settings):
    run = training.start_run(user=alice, recipe="lite", overrides=TINY)
    assert training.run_step(run.pk, run.attempt + 5) == "stale"
    TrainingRun.objects.filter(pk=run.pk).update(status=Stage.RUNNING, heartbeat_at=timezone.now())
    assert training.run_step(run.pk, run.attempt) == "stale"  # a live worker holds it
    run.refresh_from_db()
    assert run.progress["archs"]["tiny"]["epoch"] == 0


def test_recovery_redispatches_only_stale_work(gt_studies, alice, settings):
    settings.ICHWEB_STALE_AFTER_S = 60
    fresh = training.start_run(user=alice, recipe="lite", overrides=TINY)
    lost = training.start_run(user=alice, recipe="lite", overrides=TINY)
    old = timezone.now() - timedelta(seconds=120)
    TrainingRun.objects.filter(pk=lost.pk).update(status=Stage.RUNNING, heartbeat_at=old)
    assert recovery.recover_stale() == {"runs": [lost.pk], "jobs": []}
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.attempt == 2 and lost.status == Stage.QUEUED and lost.progress["recoveries"] == 1
    assert fresh.attempt == 1


def test_cancel_stops_a_queued_run_and_the_next_progress_report(gt_studies, alice):
    run = training.start_run(user=alice, recipe="lite", overrides=TINY)
    reporter = training._Reporter(run, "tiny", 2)
    training.cancel_run(run)
    run.refresh_from_db()
    assert run.status == Stage.CANCELLED and run.finished_at is not None
    assert training.run_step(run.pk, run.attempt) == "stale"
    with pytest.raises(training.RunCancelled):
        reporter.update({"epoch": 1}, "x")


def test_failed_step_records_the_error(gt_studies, alice, monkeypatch):
    run = training.start_run(user=alice, recipe="lite", overrides=TINY)

    def boom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("ml.train.train_arch", boom)
    assert training.run_step(run.pk, run.attempt) == "failed"
    run.refresh_from_db()
    assert run.status == Stage.FAILED and "tiny: RuntimeError: CUDA out of memory" in run.error
