"""Re-dispatch work whose worker died: runs and jobs marked running or queued with an old heartbeat.

Brokers differ in what they do with the unacknowledged message of a killed worker (Redis redelivers after its
visibility timeout, the embedded filesystem broker has already removed it). The sweep makes recovery the same
everywhere: every worker runs it when it starts, and it re-sends the current step with a new attempt, which
turns any late redelivery of the old message into a no-op.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ichweb.modeling import inference, training
from ichweb.modeling.models import InferenceJob, Stage, TrainingRun

log = logging.getLogger(__name__)


def recover_stale(max_age_s: float | None = None) -> dict[str, list[int]]:
    """Re-dispatch unfinished runs and jobs whose heartbeat is older than ``max_age_s``; returns their ids."""
    age = settings.ICHWEB_STALE_AFTER_S if max_age_s is None else max_age_s
    cutoff = timezone.now() - timedelta(seconds=age)
    recovered: dict[str, list[int]] = {"runs": [], "jobs": []}
    active = (Stage.QUEUED, Stage.RUNNING)
    for run_id in TrainingRun.objects.filter(status__in=active, heartbeat_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run_id)
            if run.finished or run.heartbeat_at is None or run.heartbeat_at >= cutoff:
                continue
            run.progress = {
                **run.progress,
                "message": "resuming after a lost worker",
                "recoveries": run.progress.get("recoveries", 0) + 1,
            }
            run.save(update_fields=["progress"])
            training.dispatch(run)
            recovered["runs"].append(run_id)
    for job_id in InferenceJob.objects.filter(status__in=active, heartbeat_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            job = InferenceJob.objects.select_for_update().get(pk=job_id)
            if job.finished or job.heartbeat_at is None or job.heartbeat_at >= cutoff:
                continue
            inference.dispatch(job)
            recovered["jobs"].append(job_id)
    if recovered["runs"] or recovered["jobs"]:
        log.warning("re-dispatched stale work: %s", recovered)
    return recovered
