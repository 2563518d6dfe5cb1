"""Re-dispatch work whose worker died: runs and jobs marked running or queued with an old heartbeat.

Brokers differ in what they do with the unacknowledged message of a killed worker (Redis redelivers after its
visibility timeout, the embedded filesystem broker has already removed it). The sweep makes recovery the same
everywhere: every worker runs it when it starts, and it re-sends the current step with a new attempt, which
turns any late redelivery of the old message into a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ichweb.modeling import inference, training
from ichweb.modeling.models import InferenceJob, Stage, TrainingRun

log = logging.getLogger(__name__)


def _note_recovery(run: TrainingRun) -> None:
    run.progress = {
        **run.progress,
        "message": "resuming after a lost worker",
        "recoveries": run.progress.get("recoveries", 0) + 1,
    }
    run.save(update_fields=["progress"])


def recover_stale(max_age_s: float | None = None) -> dict[str, list[int]]:
    """Re-dispatch unfinished runs and jobs whose heartbeat is older than ``max_age_s``; returns their ids."""
    age = settings.ICHWEB_STALE_AFTER_S if max_age_s is None else max_age_s
    cutoff = timezone.now() - timedelta(seconds=age)
    recovered: dict[str, list[int]] = {"runs": [], "jobs": []}
    kinds: list[tuple[str, Any, Callable[[Any], None], Callable[[Any], None] | None]] = [
        ("runs", TrainingRun, training.dispatch, _note_recovery),
        ("jobs", InferenceJob, inference.dispatch, None),
    ]
    for key, model, dispatch, note in kinds:
        stale = model.objects.filter(status__in=(Stage.QUEUED, Stage.RUNNING), heartbeat_at__lt=cutoff)
        for pk in stale.values_list("pk", flat=True):
            with transaction.atomic():
                row = model.objects.select_for_update().get(pk=pk)
                if row.finished or row.heartbeat_at is None or row.heartbeat_at >= cutoff:
                    continue  # finished or picked up since the query
                if note is not None:
                    note(row)
                dispatch(row)
                recovered[key].append(pk)
    if recovered["runs"] or recovered["jobs"]:
        log.warning("re-dispatched stale work: %s", recovered)
    return recovered
