"""Celery tasks of the modeling room: thin wrappers around one service call each, on the gpu queue.

Every worker also beats while it lives (``ichweb.modeling.recovery.Liveness``): the work of a worker that
died is re-sent by the others within seconds, and a starting worker sweeps up work lost long ago.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_init, worker_ready, worker_shutdown
from django.utils import timezone

from ichweb import dispatch
from ichweb.celery import task
from ichweb.modeling import inference, recovery, training


@task(queue="gpu")
def run_training_step(self: Any, *, run_id: int, attempt: int) -> str:
    """Train the run's next net, or assemble the model when all are trained."""
    return training.run_step(run_id, attempt, owner=recovery.worker_name(self.request))


@task(queue="gpu")
def run_inference(self: Any, *, job_id: int, attempt: int) -> str:
    """Predict, explain and store one series with one model version."""
    return inference.run_job(job_id, attempt, owner=recovery.worker_name(self.request))


@task(queue="default")
def recover_stale_work(self: Any) -> dict[str, list[int]]:
    return recovery.recover_stale()


#: This worker process: when it started (before its pool, so before any claim) and its liveness beat.
_worker: dict[str, Any] = {}


@worker_init.connect
def _note_start(sender: Any = None, **kwargs: Any) -> None:
    _worker["started_at"] = timezone.now()


@worker_ready.connect
def _recover_on_start(sender: Any = None, **kwargs: Any) -> None:
    """A starting worker beats, then re-sends the work dead ones left (``ichweb.modeling.recovery``)."""
    hostname = getattr(sender, "hostname", None)
    if hostname:
        started_at = _worker.setdefault("started_at", timezone.now())
        _worker["liveness"] = recovery.Liveness(hostname, started_at).start()
    dispatch.recover_stale()


@worker_shutdown.connect
def _stop_beating(sender: Any = None, **kwargs: Any) -> None:
    liveness = _worker.pop("liveness", None)
    if liveness is not None:
        liveness.stop()
