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

app = Celery("ichweb", include=["ichweb.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.autodiscover_tasks()

QueueName = Literal["default", "gpu"]


def task(*, queue: QueueName = "default", **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a task: its queue, late acks, requeue when the worker dies, bound to ``self`` for progress.

    Tasks take keyword-only primitive ids, are idempotent (a redelivered message must be harmless) and are
    enqueued with ``transaction.on_commit`` so a worker never sees an uncommitted row.
    """
    defaults: dict[str, Any] = {
        "bind": True,
        "queue": queue,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "track_started": True,
    }
    defaults.update(options)
    return app.task(**defaults)
