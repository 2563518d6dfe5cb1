"""Work owned by a worker that died is re-sent by the live ones: the rules, /healthz, and real processes.

The slow test kills the worker that trains a run (SIGKILL of its process group: a lost host) while a second
worker lives; with ``ICHWEB_STALE_AFTER_S`` at its 600 s default only the liveness rule can hand the run to
the survivor, which must resume it from its checkpoint within 90 s.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone

from ichweb import dispatch
from ichweb.imaging.models import Series, Study
from ichweb.modeling import recovery, training
from ichweb.modeling.models import InferenceJob, ModelVersion, Stage, TrainingRun, WorkerBeat
from ml.checkpoint import load_checkpoint
from tests.conftest import start_worker
from tests.modeling.conftest import TINY, import_with_truth
from tests.modeling.test_worker import wait_for


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def beat(hostname: str, *, seen_s: float = 0, started_s: float = 3600) -> None:
    WorkerBeat.objects.create(hostname=hostname, started_at=ago(started_s), seen_at=ago(seen_s))


def running_run(owner: str, heartbeat_s: float = 30, **fields) -> TrainingRun:
    return TrainingRun.objects.create(
        name=f"run of {owner}",
        recipe="lite",
        status=Stage.RUNNING,
        owner=owner,
        heartbeat_at=ago(heartbeat_s),
        attempt=1,
        **fields,
    )


def running_job(owner: str, heartbeat_s: float = 30) -> InferenceJob:
    study = Study.objects.create(study_uid="1.2.3", patient_pseudo_id="p")
    series = Series.objects.create(
        study=study,
        series_uid="1.2.3.4",
        rows=8,
        columns=8,
        n_slices=1,
        pixel_spacing_row=1,
        pixel_spacing_col=1,
        slice_spacing=1,
        storage_dir="x",
    )
    version = ModelVersion.objects.create(name="m")
    return InferenceJob.objects.create(
        series=series,
        model_version=version,
        status=Stage.RUNNING,
        owner=owner,
        heartbeat_at=ago(heartbeat_s),
        attempt=1,
    )


@pytest.fixture
def sent(monkeypatch):
    """The messages recovery sends, as (task name, kwargs), once their transaction commits."""
    messages: list[tuple[str, dict]] = []

    def send(task_name: str, **kwargs: object) -> None:
        messages.append((task_name.rsplit(".", 1)[-1], kwargs))

    monkeypatch.setattr(dispatch, "send", send)
    return messages


@pytest.mark.pg
def test_work_of_a_dead_owner_is_sent_again_and_a_live_owners_is_left(
    db, sent, django_capture_on_commit_callbacks
):
    WorkerBeat.objects.all().delete()  # beats left by the worker processes of other tests
    beat("alive@h")  # beat just now, process started an hour ago
    beat("dead@h", seen_s=60)  # silent for 6 intervals
    beat("restarted@h", started_s=5)  # alive again under its old name, but a new process
    alive = running_run("alive@h", progress={"message": "training"})
    dead = running_run("dead@h")
    restarted = running_run("restarted@h")
    vanished = running_run("never-beat@h")  # no beat at all (e.g. a worker from before this version)
    just_claimed = running_run("new@h", heartbeat_s=1)  # owner's first beat may still be on its way
    queued = TrainingRun.objects.create(name="q", recipe="lite", heartbeat_at=ago(60))  # no owner yet
    job = running_job("dead@h")

    assert recovery.live_workers().keys() == {"alive@h", "restarted@h"}
    assert recovery.count_orphaned() == 4
    with django_capture_on_commit_callbacks(execute=True):
        recovered = recovery.recover_orphans()
    assert sorted(recovered["runs"]) == [dead.pk, restarted.pk, vanished.pk] and recovered["jobs"] == [job.pk]

    for run in (dead, restarted, vanished):
        run.refresh_from_db()
        assert (run.status, run.attempt, run.owner) == (Stage.QUEUED, 2, "")
        assert run.progress["recoveries"] == 1
    job.refresh_from_db()
    assert (job.status, job.attempt, job.owner) == (Stage.QUEUED, 2, "")
    sent_attempts = sorted((name, kw.get("run_id") or kw.get("job_id"), kw["attempt"]) for name, kw in sent)
    assert sent_attempts == sorted(
        [("run_training_step", r.pk, 2) for r in (dead, restarted, vanished)] + [("run_inference", job.pk, 2)]
    )
    for untouched in (alive, just_claimed, queued):
        before = untouched.attempt, untouched.status
        untouched.refresh_from_db()
        assert (untouched.attempt, untouched.status) == before
    # Sent once: a second pass (another worker's beat) finds nothing.
    assert recovery.recover_orphans() == {"runs": [], "jobs": []}
    assert recovery.count_orphaned() == 0


@pytest.mark.pg
def test_a_row_another_worker_sent_again_meanwhile_is_not_sent_twice(
    db, sent, django_capture_on_commit_callbacks
):
    beat("dead@h", seen_s=60)
    run = running_run("dead@h")
    listed: list[int] = []

    def select(model):
        if model is TrainingRun and not listed:
            # This worker lists the row; before it takes the row lock another worker re-sends it.
            listed.extend(recovery.orphaned(model).values_list("pk", flat=True))
            assert recovery.recover_orphans()["runs"] == [run.pk]
            return model.objects.filter(pk__in=listed)
        return recovery.orphaned(model)

    with django_capture_on_commit_callbacks(execute=True):
        assert recovery._resend(select, "orphaned") == {"runs": [], "jobs": []}
    run.refresh_from_db()
    assert run.attempt == 2 and len(sent) == 1


@pytest.mark.pg
def test_unowned_work_keeps_the_age_rule(db, settings, sent):
    settings.ICHWEB_STALE_AFTER_S = 600
    young = TrainingRun.objects.create(name="y", recipe="lite", heartbeat_at=ago(120))
    old = TrainingRun.objects.create(name="o", recipe="lite", heartbeat_at=ago(700))
    assert recovery.recover_orphans() == {"runs": [], "jobs": []}  # queued work has no owner to lose
    assert recovery.recover_stale() == {"runs": [old.pk], "jobs": []}
    young.refresh_from_db()
    assert young.attempt == 0


def test_a_task_records_its_worker_and_a_dispatch_clears_it(db):
    class Request:
        hostname, is_eager = "gpu@h", False

    assert recovery.worker_name(Request()) == "gpu@h"
    Request.is_eager = True
    assert recovery.worker_name(Request()) == ""  # in-process: no worker to outlive it
    run = TrainingRun.objects.create(name="r", recipe="lite", progress={"archs": {}})
    dispatch.training_step(run)
    claimed = training._claim(run.pk, run.attempt, "gpu@h")
    assert claimed is not None and claimed.owner == "gpu@h"
    dispatch.training_step(claimed)
    claimed.refresh_from_db()
    assert (claimed.status, claimed.owner) == (Stage.QUEUED, "")


def test_a_beat_is_written_then_removed_when_the_worker_stops(transactional_db, settings):
    settings.ICHWEB_LIVENESS_INTERVAL_S = 3600  # the thread's own beats never come in this test
    started = timezone.now()
    liveness = recovery.Liveness("w@h", started).start()
    try:
        assert recovery.live_workers() == {"w@h": started}
    finally:
        liveness.stop()
    assert not WorkerBeat.objects.filter(hostname="w@h").exists()


def test_healthz_is_degraded_by_running_work_without_a_live_owner(client, db, monkeypatch):
    monkeypatch.setattr("ichweb.health.check_workers", lambda: {"ok": True, "count": 1})
    beat("alive@h")
    running_run("alive@h")
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["work"]["ok"] is True and body["work"]["orphaned"] == 0

    running_run("dead@h")
    running_job("dead@h")
    response = client.get("/healthz")
    assert response.status_code == 200  # degraded, not down: the database and the broker answer
    body = response.json()
    assert body["status"] == "degraded"
    assert {k: body["work"][k] for k in ("ok", "orphaned")} == {"ok": False, "orphaned": 2}
    assert set(body) == {"status", "database", "broker", "worker", "work"}


@pytest.mark.slow
@pytest.mark.pg
def test_a_surviving_worker_resumes_the_run_of_a_killed_one(
    gt_phantom_dir, alice, settings, transactional_db
):
    assert settings.ICHWEB_STALE_AFTER_S == 600  # only the owner rule can act within the test
    queue = "test-liveness"
    settings.ICHWEB_GPU_QUEUE = settings.ICHWEB_DEFAULT_QUEUE = queue
    starts = [start_worker(queue=queue), start_worker(queue=queue)]
    with ThreadPoolExecutor(2) as pool:  # both start while the studies are imported
        started = [pool.submit(next, s) for s in starts]
        import_with_truth(gt_phantom_dir, alice)
    workers = {w.name: w for w in (f.result() for f in started)}
    try:
        run = training.start_run(
            user=alice, recipe="lite", overrides={**TINY, "max_epochs": 4, "max_steps_per_epoch": 40}
        )

        def finished_epochs() -> list[int]:
            run.refresh_from_db()
            return [h["epoch"] for h in run.progress.get("history", [])]

        wait_for(lambda: len(finished_epochs()) >= 1, 240, "the first checkpointed epoch", every=0.1)
        owner, attempt = run.owner, run.attempt
        assert owner in workers, f"run owned by {owner!r}, not one of {sorted(workers)}"
        (survivor,) = (w for name, w in workers.items() if name != owner)
        workers[owner].kill()
        killed_at = time.monotonic()
        epochs_before = finished_epochs()
        # The trainer writes an epoch's checkpoint, then reports it: a kill between the two leaves one
        # epoch more on disk than in the history. Resuming goes by the checkpoint, so compare with it.
        checkpoint = load_checkpoint(run.folder / "checkpoints" / "tiny.pt")
        last_checkpointed = int(checkpoint["state"]["epoch"])
        assert last_checkpointed in (epochs_before[-1], epochs_before[-1] + 1), epochs_before
        assert run.status == Stage.RUNNING and len(epochs_before) < 4

        def resumed() -> bool:
            """The survivor holds the run and has reported since. The epochs left after the kill can take
            less time than one poll, so a run already past training (assembling, done) counts too."""
            run.refresh_from_db()
            message, stage = run.progress.get("message", ""), run.progress.get("stage")
            reported = message.startswith("training") or stage in ("assemble", "done")
            return run.attempt > attempt and run.owner == survivor.name and reported

        try:
            wait_for(resumed, 90, "the survivor to resume the run", every=0.2)
        except BaseException:
            run.refresh_from_db()
            print("run at the timeout:", run.status, run.attempt, run.owner, run.progress, run.error)
            raise
        seconds = time.monotonic() - killed_at
        print(f"kill -> resumed: {seconds:.1f} s (broker {settings.CELERY_BROKER_URL.split(':')[0]})")
        assert seconds <= 90

        # Resumed from the checkpoint, not restarted: the survivor is past the last epoch checkpointed before
        # the kill (a fresh start would be back at epoch 1; a short epoch may be over before the poll sees
        # it, so "past", not "at the next"), and no epoch is in the history twice.
        progress = run.progress  # as the survivor first reported it
        (arch,) = progress["archs"]
        assert progress["archs"][arch]["epoch"] > last_checkpointed, progress["archs"]
        epochs = [h["epoch"] for h in progress.get("history", [])]
        assert epochs[: len(epochs_before)] == epochs_before and epochs == sorted(set(epochs)), epochs
        assert progress["recoveries"] == 1
        training.cancel_run(run)  # the rest of the run is the pipeline tests' business
    finally:
        for s in starts:
            s.close()
