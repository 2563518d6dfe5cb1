"""The Celery application and the one decorator every ICHweb task goes through.

Workers: ``celery -A ichweb worker -Q default`` and, one task at a time, ``-Q gpu --concurrency 1``;
on GPU hosts ``celery -A ichweb worker -Q gpu --concurrency 1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from celery import Celery
from kombu import Queue

from ichweb.startup import configure

configure()

QueueKind = Literal["default", "gpu"]


def queue_name(kind: QueueKind) -> str:
    """The queue a kind of work goes to, from the settings (the one source of queue names)."""
    from django.conf import settings

    if kind == "gpu":
        return str(settings.ICHWEB_GPU_QUEUE)
    if kind == "default":
        return str(settings.ICHWEB_DEFAULT_QUEUE)
    raise ValueError(f"unknown queue kind {kind!r}; use 'default' or 'gpu'")


app = Celery("ichweb", include=["ichweb.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue(queue_name("default")), Queue(queue_name("gpu")))
app.conf.task_default_queue = queue_name("default")
app.autodiscover_tasks()


def task(*, queue: QueueKind = "default", **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a task: its queue kind, late acks, requeue when the worker dies, bound to ``self``.

    Tasks take keyword-only primitive ids, are idempotent (a redelivered message must be harmless) and are
    sent through ``ichweb.dispatch`` (after the transaction commits), so a worker never sees an uncommitted
    row. ``queue`` is a kind; the queue's name is its setting (``ichweb.dispatch.queue_name``).
    """
    defaults: dict[str, Any] = {
        "bind": True,
        "queue": queue_name(queue),
        "queue_kind": queue,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "track_started": True,
    }
    defaults.update(options)
    return app.task(**defaults)
