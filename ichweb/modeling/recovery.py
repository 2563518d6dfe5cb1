"""Re-dispatch work whose worker died, and the liveness of workers that tells which ones did.

Brokers differ in what they do with the unacknowledged message of a killed worker (Redis redelivers after its
visibility timeout, the embedded filesystem broker has already removed it). Recovery is therefore the same
everywhere: it re-sends the current step with a new attempt, which turns any late redelivery of the old
message into a no-op, under the row's lock with the rule checked again, so two workers never re-send one row.

Two rules find lost work:

- **owner gone** (seconds): a claimed run or job names its worker in ``owner``. Every worker writes a beat
  (``WorkerBeat``) every ``ICHWEB_LIVENESS_INTERVAL_S`` and, at each beat, re-sends running work whose owner
  has not beaten for ``DEAD_AFTER_INTERVALS`` intervals, or whose owner restarted (same name, new process)
  since it last touched the row. The row's own heartbeat must also be an interval old, so work claimed a
  moment ago is never taken from a worker whose first beat is still on its way.
- **age** (``ICHWEB_STALE_AFTER_S``): work no worker owns (queued and never claimed, a lost message) and
  everything whose heartbeat is that old, swept when a worker starts (``recover_stale``), as before owners.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from ichweb import dispatch
from ichweb.modeling.models import InferenceJob, Stage, TrainingRun, WorkerBeat

log = logging.getLogger(__name__)

#: A worker whose last beat is this many intervals old counts as dead.
DEAD_AFTER_INTERVALS = 3
#: Beats of workers gone this long are deleted.
FORGET_AFTER = timedelta(days=1)


def _note_run(run: TrainingRun) -> None:
    run.progress = {
        **run.progress,
        "message": "resuming after a lost worker",
        "recoveries": run.progress.get("recoveries", 0) + 1,
    }
    run.save(update_fields=["progress"])


def _note_job(job: InferenceJob) -> None:
    job.message = "resuming after a lost worker"
    job.save(update_fields=["message"])


#: (result key, model, dispatch, note made on the row before it is sent again)
KINDS: list[tuple[str, Any, Callable[[Any], None], Callable[[Any], None]]] = [
    ("runs", TrainingRun, dispatch.training_step, _note_run),
    ("jobs", InferenceJob, dispatch.inference, _note_job),
]


def interval() -> timedelta:
    return timedelta(seconds=settings.ICHWEB_LIVENESS_INTERVAL_S)


def worker_name(request: Any) -> str:
    """The node name of the worker running a task (its ``self.request``); empty when run eagerly."""
    if getattr(request, "is_eager", False):
        return ""
    return getattr(request, "hostname", None) or ""


def beat(hostname: str, started_at: datetime, *, now: datetime | None = None) -> None:
    """Record that worker ``hostname`` (whose process started at ``started_at``) is alive."""
    WorkerBeat.objects.update_or_create(
        hostname=hostname,
        defaults={"pid": os.getpid(), "started_at": started_at, "seen_at": now or timezone.now()},
    )


def forget(hostname: str) -> None:
    """A worker that stops cleanly removes its beat, so what it leaves is re-sent at once."""
    WorkerBeat.objects.filter(hostname=hostname).delete()


def live_workers(now: datetime | None = None) -> dict[str, datetime]:
    """Workers with a recent beat: node name -> when its process started."""
    cutoff = (now or timezone.now()) - DEAD_AFTER_INTERVALS * interval()
    return dict(WorkerBeat.objects.filter(seen_at__gte=cutoff).values_list("hostname", "started_at"))


def _with_owner_start(qs: QuerySet, now: datetime) -> QuerySet:
    """``qs`` annotated with ``owner_since``: when its owner's live process started (NULL: none is live)."""
    fresh = WorkerBeat.objects.filter(
        hostname=OuterRef("owner"), seen_at__gte=now - DEAD_AFTER_INTERVALS * interval()
    )
    return qs.annotate(owner_since=Subquery(fresh.values("started_at")[:1]))


def orphaned(model: Any, now: datetime | None = None) -> QuerySet:
    """Running rows no live worker holds: the owner is gone (or restarted), or there is none and it is old."""
    now = now or timezone.now()
    qs = _with_owner_start(model.objects.filter(status=Stage.RUNNING), now)
    # Held: the owner's live process started before it last touched the row (a restart under the same
    # name does not hold what the killed process left).
    not_held = Q(owner_since__isnull=True) | Q(owner_since__gt=F("heartbeat_at"))
    owner_gone = ~Q(owner="") & Q(heartbeat_at__lt=now - interval())
    unowned_old = Q(owner="", heartbeat_at__lt=now - timedelta(seconds=settings.ICHWEB_STALE_AFTER_S))
    return qs.filter(not_held & (owner_gone | unowned_old))


def stale(model: Any, max_age_s: float, now: datetime | None = None) -> QuerySet:
    """Unfinished rows (queued or running) whose heartbeat is older than ``max_age_s``."""
    cutoff = (now or timezone.now()) - timedelta(seconds=max_age_s)
    return model.objects.filter(status__in=(Stage.QUEUED, Stage.RUNNING), heartbeat_at__lt=cutoff)


def count_orphaned() -> int:
    """Running runs and jobs without a live owner (``/healthz`` reports them)."""
    now = timezone.now()
    return sum(orphaned(model, now).count() for _, model, _, _ in KINDS)


def _resend(select: Callable[[Any], QuerySet], why: str) -> dict[str, list[int]]:
    """Re-dispatch the rows ``select(model)`` finds, each re-checked under its row lock."""
    recovered: dict[str, list[int]] = {"runs": [], "jobs": []}
    for key, model, send, note in KINDS:
        for pk in list(select(model).values_list("pk", flat=True)):
            with transaction.atomic():
                row = model.objects.select_for_update().filter(pk=pk).first()
                # Another worker may have re-sent it, or its owner reported, since the query.
                if row is None or row.finished or not select(model).filter(pk=pk).exists():
                    continue
                note(row)
                send(row)
                recovered[key].append(pk)
    if recovered["runs"] or recovered["jobs"]:
        log.warning("re-dispatched %s work: %s", why, recovered)
    return recovered


def recover_stale(max_age_s: float | None = None) -> dict[str, list[int]]:
    """Re-dispatch unfinished runs and jobs whose heartbeat is older than ``max_age_s``; returns their ids."""
    age = settings.ICHWEB_STALE_AFTER_S if max_age_s is None else max_age_s
    now = timezone.now()
    return _resend(lambda model: stale(model, age, now), "stale")


def recover_orphans() -> dict[str, list[int]]:
    """Re-dispatch running runs and jobs whose owner is no longer alive; returns their ids."""
    now = timezone.now()
    return _resend(lambda model: orphaned(model, now), "orphaned")


def liveness_tick(hostname: str, started_at: datetime) -> dict[str, list[int]]:
    """One beat of a worker: say it is alive, forget long-gone workers, re-send what dead ones owned."""
    now = timezone.now()
    beat(hostname, started_at, now=now)
    WorkerBeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
    return recover_orphans()


class Liveness:
    """Beats for one worker process every ``ICHWEB_LIVENESS_INTERVAL_S`` on a daemon thread.

    Started when the worker is ready (in its main process, after the pool has forked). Only the thread
    touches the database, and it keeps no connection between beats, so a pool process forked later
    inherits none. A clean stop removes the worker's beat: whatever it still owned is re-sent at once.
    """

    #: How long ``start`` waits for the first beat before letting the worker take tasks anyway.
    FIRST_BEAT_WAIT_S = 30.0

    def __init__(self, hostname: str, started_at: datetime) -> None:
        self.hostname, self.started_at = hostname, started_at
        self._stop, self._first = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"liveness {hostname}", daemon=True)

    def start(self) -> Liveness:
        self._thread.start()
        self._first.wait(self.FIRST_BEAT_WAIT_S)  # alive before the worker takes its first task
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.FIRST_BEAT_WAIT_S)

    def _run(self) -> None:
        try:
            self._tick()
            self._first.set()
            while not self._stop.wait(settings.ICHWEB_LIVENESS_INTERVAL_S):
                self._tick()
            forget(self.hostname)
        except Exception:
            log.exception("could not remove the beat of %s", self.hostname)
        finally:
            self._first.set()
            connections.close_all()

    def _tick(self) -> None:
        try:
            liveness_tick(self.hostname, self.started_at)
        except Exception:
            log.exception("liveness check of %s failed; retrying in %s", self.hostname, interval())
        finally:
            connections.close_all()
