"""Every message ICHweb sends to its workers leaves through here (docs/architecture.md, "Queues and workers").

A message names its task (``TASK_*``, checked against the registered tasks by a test) and a queue *kind*,
``"default"`` or ``"gpu"``; the queue it goes to is the kind's setting (``ICHWEB_DEFAULT_QUEUE``,
``ICHWEB_GPU_QUEUE``), read when the message is sent, so a deployment renames queues in one place. Work a
database row describes is sent with :func:`send_on_commit`: a worker never sees a row that is not committed,
and a rolled-back request sends nothing.

Sending by name keeps this module below the tasks: the services that queue work import it, the task modules
import the services, and no module imports a task module (no import circle).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from django.db import transaction

from ichweb.celery import QueueKind, app, queue_name

log = logging.getLogger(__name__)

TASK_IMPORT_UPLOAD = "ichweb.imaging.tasks.import_upload"
TASK_TRAINING_STEP = "ichweb.modeling.tasks.run_training_step"
TASK_INFERENCE = "ichweb.modeling.tasks.run_inference"
TASK_RECOVER_STALE = "ichweb.modeling.tasks.recover_stale_work"
TASK_IMPORT_RECEIVED = "ichweb.interop.tasks.import_received_study"
TASK_SEND_EXPORT = "ichweb.interop.tasks.send_export"

#: The queue kind of every task sent from here (a test ties it to each task's declared queue).
KINDS: dict[str, QueueKind] = {
    TASK_IMPORT_UPLOAD: "default",
    TASK_TRAINING_STEP: "gpu",
    TASK_INFERENCE: "gpu",
    TASK_RECOVER_STALE: "default",
    TASK_IMPORT_RECEIVED: "default",
    TASK_SEND_EXPORT: "default",
}


def send(task_name: str, **kwargs: Any) -> None:
    """Send ``task_name`` with keyword ``kwargs`` now, to the queue of its kind.

    With ``CELERY_TASK_ALWAYS_EAGER`` (single-process tools) the task runs here instead.
    """
    if task_name not in KINDS:
        raise ValueError(f"unknown task {task_name!r}; add it to ichweb.dispatch.KINDS")
    if app.conf.task_always_eager:
        app.loader.import_default_modules()
        app.tasks[task_name].apply(kwargs=kwargs)
        return
    app.send_task(task_name, kwargs=kwargs, queue=queue_name(KINDS[task_name]))
    log.debug("sent %s %s", task_name, kwargs)


def send_on_commit(task_name: str, **kwargs: Any) -> None:
    """Send ``task_name`` once the current transaction commits (at once outside a transaction)."""
    if task_name not in KINDS:
        raise ValueError(f"unknown task {task_name!r}; add it to ichweb.dispatch.KINDS")
    transaction.on_commit(lambda: send(task_name, **kwargs))


class _Dispatched(Protocol):
    """A row that carries a dispatch token (``ichweb.modeling.models.Dispatched``)."""

    pk: Any

    def next_attempt(self) -> int: ...


def training_step(run: _Dispatched) -> None:
    """Bump the run's attempt and send its next step to the gpu queue once the transaction commits."""
    send_on_commit(TASK_TRAINING_STEP, run_id=run.pk, attempt=run.next_attempt())


def inference(job: _Dispatched) -> None:
    """Bump the job's attempt and send it to the gpu queue once the transaction commits."""
    send_on_commit(TASK_INFERENCE, job_id=job.pk, attempt=job.next_attempt())


def import_upload(job_id: str) -> None:
    """Send an uploaded batch to a worker for import once the transaction commits."""
    send_on_commit(TASK_IMPORT_UPLOAD, job_id=job_id)


def recover_stale() -> None:
    """Ask a default-queue worker to sweep up lost work now (a starting worker does)."""
    send(TASK_RECOVER_STALE)


def import_received(received: _Dispatched) -> None:
    """Bump a received study's attempt and send its import to a default-queue worker once committed."""
    send_on_commit(TASK_IMPORT_RECEIVED, received_id=received.pk, attempt=received.next_attempt())


def send_export(send_job: _Dispatched) -> None:
    """Bump a send job's dispatch token and send it to a default-queue worker once committed."""
    send_on_commit(TASK_SEND_EXPORT, send_job_id=send_job.pk, dispatch=send_job.next_attempt())
