"""The modeling flow with real worker processes on the configured broker (embedded by default; PostgreSQL
and Redis in the services pass): train, activate, predict a new study automatically, review; and a worker
killed in the middle of training whose run finishes from its checkpoint.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import pytest
from django.urls import reverse

from ichweb.imaging.ingest import import_items
from ichweb.imaging.models import Series, Study
from ichweb.modeling import training
from ichweb.modeling.models import (
    AttentionMap,
    InferenceJob,
    ModelVersion,
    PredictionBasis,
    Stage,
    TrainingRun,
)
from tests.conftest import start_worker
from tests.modeling.conftest import GT_PHANTOMS, TINY, import_with_truth

pytestmark = [pytest.mark.slow, pytest.mark.pg]


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def run_status(run: TrainingRun) -> str:
    run.refresh_from_db()
    return run.status


def test_train_activate_predict_and_review(
    gt_phantom_dir, alice, client, settings, transactional_db, tmp_path
):
    import_with_truth(gt_phantom_dir, alice)
    worker_gen = start_worker()
    worker = next(worker_gen)
    try:
        settings.ICHWEB_GPU_QUEUE = settings.ICHWEB_DEFAULT_QUEUE = worker.queue
        client.force_login(alice)
        run = training.start_run(user=alice, recipe="lite", overrides=TINY)
        wait_for(lambda: run_status(run) in (Stage.SUCCEEDED, Stage.FAILED), 300, "the training run")
        assert run.status == Stage.SUCCEEDED, run.error
        version = ModelVersion.objects.get(run=run)
        assert version.is_active and version.atlas_entries.exists()

        # A new study: imported -> the active model predicts it on its own.
        from ml.phantom import generate_dataset

        new_dir = tmp_path / "new"
        generate_dataset(
            GT_PHANTOMS.__class__(**{**GT_PHANTOMS.__dict__, "seed": 99, "negative_fraction": 0.0}),
            new_dir,
            n_cases=1,
            progress=False,
        )
        shutil.rmtree(new_dir / "case0001" / "denoised", ignore_errors=True)
        before = set(Study.objects.values_list("pk", flat=True))
        import_items([("new", new_dir / "case0001")], user=alice)
        study = Study.objects.exclude(pk__in=before).get()
        series = study.series.get(kind=Series.Kind.STANDARD)

        def job_done() -> bool:
            job = InferenceJob.objects.filter(series=series, model_version=version).first()
            return job is not None and job.finished

        wait_for(job_done, 180, "the automatic inference job")
        job = InferenceJob.objects.get(series=series, model_version=version)
        assert job.status == Stage.SUCCEEDED, job.error
        assert job.slice_predictions.count() == series.n_slices
        top_map = AttentionMap.objects.filter(job=job, label="ANY").first()
        assert top_map is not None  # the most suspicious slice's "any ICH" map is always stored
        assert PredictionBasis.objects.filter(attention_map=top_map).exists()

        page = client.get(reverse("modeling:review", args=[series.pk]))
        assert page.status_code == 200
        doc = client.get(f"/api/v1/modeling/review/{series.pk}/").json()
        assert doc["job"]["status"] == "succeeded" and len(doc["slice_probabilities"]) == series.n_slices
        first = doc["maps"][0]
        assert client.get(first["overlay_url"]).status_code == 200
        assert first["basis"] and client.get(first["basis"][0]["entry"]["patch_url"]).status_code == 200
    finally:
        worker_gen.close()


def test_killed_worker_run_finishes_from_its_checkpoint(gt_phantom_dir, alice, settings, transactional_db):
    import_with_truth(gt_phantom_dir, alice)
    queue = "test-kill"
    settings.ICHWEB_GPU_QUEUE = settings.ICHWEB_DEFAULT_QUEUE = queue
    first = start_worker(queue=f"{queue}")
    worker = next(first)
    run = training.start_run(
        user=alice, recipe="lite", overrides={**TINY, "max_epochs": 4, "max_steps_per_epoch": 40}
    )

    def finished_epochs() -> list[int]:
        run.refresh_from_db()
        return [h["epoch"] for h in run.progress.get("history", [])]

    # Epochs of 40 steps take seconds; polling every 0.1 s kills the worker early in the second one.
    wait_for(lambda: len(finished_epochs()) >= 1, 240, "the first checkpointed epoch", every=0.1)
    worker.kill()
    first.close()
    epochs_before = finished_epochs()
    assert run.status == Stage.RUNNING and len(epochs_before) < 4

    # A new worker starts after the stale time: it finds the run and resumes it.
    stale_s = 3
    time.sleep(stale_s + 0.5)
    second = start_worker(extra_env={"ICHWEB_STALE_AFTER_S": str(stale_s)}, queue=queue)
    next(second)
    try:
        wait_for(lambda: run_status(run) in (Stage.SUCCEEDED, Stage.FAILED), 300, "the resumed run")
    finally:
        second.close()
    assert run.status == Stage.SUCCEEDED, run.error
    assert run.progress["recoveries"] >= 1
    epochs = finished_epochs()
    # Resumed, not restarted: every epoch finished before the kill appears once, and training reached 4.
    assert epochs[: len(epochs_before)] == epochs_before
    assert sorted(set(epochs)) == [1, 2, 3, 4] and epochs.count(1) == 1
