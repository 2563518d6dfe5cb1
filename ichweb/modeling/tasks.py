"""Celery tasks of the modeling room: thin wrappers around one service call each, on the gpu queue."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready

from ichweb.celery import task
from ichweb.modeling import inference, recovery, training


@task(queue="gpu")
def run_training_step(self: Any, *, run_id: int, attempt: int) -> str:
    """Train the run's next net, or assemble the model when all are trained."""
    return training.run_step(run_id, attempt)


@task(queue="gpu")
def run_inference(self: Any, *, job_id: int, attempt: int) -> str:
    """Predict, explain and store one series with one model version."""
    return inference.run_job(job_id, attempt)


@task(queue="default")
def recover_stale_work(self: Any) -> dict[str, list[int]]:
    return recovery.recover_stale()


@worker_ready.connect
def _recover_on_start(sender: Any = None, **kwargs: Any) -> None:
    """A starting worker re-sends what a dead one left unfinished (see ``ichweb.modeling.recovery``)."""
    from django.conf import settings

    recover_stale_work.apply_async(queue=settings.ICHWEB_DEFAULT_QUEUE)
