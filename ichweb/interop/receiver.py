"""Received studies, from the C-STORE listener to an import on a worker (docs/interop.md, "C-STORE").

The listener calls ``record_instance`` / ``record_refusal`` for every instance (from many threads), and
``hand_over_idle`` now and then: a study with no new instance for ``ICHWEB_DICOM_IDLE_S`` becomes an
import job (its spooled files copied to it) and a task for a default-queue worker, sent through
``ichweb.dispatch``. The listener never imports; the worker runs ``import_received``, which calls the one
ingest service (de-identified, stored whole per study; ``series_imported`` then queues inference of the
active model, as for uploads). Several studies are several tasks, imported by several workers at once.

Each instance is written to the spool under its de-identified SOP Instance UID (a resent instance replaces
itself), first to a temporary name and then renamed, so a spool never holds part of a file. An aborted
association keeps what arrived: it is imported when the study is idle, and the row says the association
was aborted (the series may then lack slices; sending them again completes it).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ichweb import dispatch
from ichweb.imaging import ingest
from ichweb.imaging.models import ImportJob
from ichweb.interop import pseudonyms
from ichweb.interop.models import ReceivedStudy

log = logging.getLogger(__name__)

Status = ReceivedStudy.Status


def _open_batch(study_uid: str, calling_ae: str) -> ReceivedStudy:
    """The study's batch still receiving, locked (made when there is none). Call inside a transaction."""
    found = ReceivedStudy.objects.select_for_update().filter(study_uid=study_uid, status=Status.RECEIVING)
    batch = found.first()
    if batch is not None:
        return batch
    try:
        with transaction.atomic():
            return ReceivedStudy.objects.create(study_uid=study_uid, calling_ae=calling_ae[:16])
    except IntegrityError:  # another association opened it a moment ago
        return found.get()


def record_instance(original_study_uid: str, original_sop_uid: str, calling_ae: str, data: bytes) -> int:
    """Spool one received instance (``data``: a DICOM file) in its study's batch; returns the batch id.

    The batch row stays locked while the file is written, so a hand-over never misses it.
    """
    study_uid = pseudonyms.uid(original_study_uid)
    sop_uid = pseudonyms.uid(original_sop_uid)
    with transaction.atomic():
        batch = _open_batch(study_uid, calling_ae)
        folder = batch.spool_dir
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{sop_uid}.dcm"
        new = not target.exists()
        temporary = folder / f".{uuid.uuid4().hex}.part"
        temporary.write_bytes(data)
        os.replace(temporary, target)
        ReceivedStudy.objects.filter(pk=batch.pk).update(
            n_instances=F("n_instances") + int(new),
            last_received_at=timezone.now(),
            calling_ae=calling_ae[:16],
        )
    return batch.pk


def record_refusal(original_study_uid: str, original_sop_uid: str, calling_ae: str, reason: str) -> int:
    """Note an instance the listener refused (its reason, under its de-identified UID); returns the batch."""
    study_uid = pseudonyms.uid(original_study_uid) if original_study_uid else "unknown"
    sop_uid = pseudonyms.uid(original_sop_uid) if original_sop_uid else ""
    with transaction.atomic():
        batch = _open_batch(study_uid, calling_ae)
        batch.reasons = [*batch.reasons, {"instance": sop_uid, "reason": reason}]
        batch.n_refused += 1
        batch.last_received_at = timezone.now()
        batch.save(update_fields=["reasons", "n_refused", "last_received_at"])
    return batch.pk


def note_aborted(batch_ids: set[int], calling_ae: str, n_received: int) -> None:
    """Mark the batches an aborted association was sending: they are imported once idle, as they are."""
    reason = (
        f"the association from {calling_ae} was aborted after {n_received} instance(s); what arrived is "
        "imported once the study is idle (send the study again to complete a series that lacks slices)"
    )
    with transaction.atomic():
        for batch in ReceivedStudy.objects.select_for_update().filter(
            pk__in=batch_ids, status=Status.RECEIVING
        ):
            batch.aborted = True
            batch.reasons = [*batch.reasons, {"instance": "", "reason": reason}]
            batch.save(update_fields=["aborted", "reasons"])


def hand_over_idle(idle_s: float) -> list[int]:
    """Hand every batch idle for ``idle_s`` seconds to a worker; the ids handed over."""
    cutoff = timezone.now() - timedelta(seconds=idle_s)
    due = ReceivedStudy.objects.filter(status=Status.RECEIVING, last_received_at__lte=cutoff)
    return [pk for pk in due.values_list("pk", flat=True) if hand_over(pk, cutoff)]


def hand_over(batch_id: int, cutoff: datetime | None = None) -> bool:
    """Turn an idle batch into an import job and send it to a default-queue worker (after commit).

    Its spooled files are copied to the job, then removed. A batch with nothing spooled (every instance
    refused) fails here. Returns whether the batch was handed over (False: busy or taken already).
    """
    with transaction.atomic():
        batch = ReceivedStudy.objects.select_for_update().get(pk=batch_id)
        if batch.status != Status.RECEIVING or (cutoff is not None and batch.last_received_at > cutoff):
            return False
        files = sorted(batch.spool_dir.glob("*.dcm"))
        batch.queued_at = timezone.now()
        # Registered first, so the spool is gone before the task is sent (eager tasks run at once).
        transaction.on_commit(partial(shutil.rmtree, batch.spool_dir, ignore_errors=True))
        if not files:
            batch.status, batch.finished_at = Status.FAILED, batch.queued_at
            batch.reasons = [
                *batch.reasons,
                {"instance": "", "reason": "no instance was accepted: nothing to import"},
            ]
            batch.save(update_fields=["status", "finished_at", "queued_at", "reasons"])
        else:
            with ExitStack() as stack:
                named = [
                    (f.name, UploadedFile(stack.enter_context(f.open("rb")), name=f.name)) for f in files
                ]
                batch.import_job = ingest.create_upload_job(named, user=None, source=ImportJob.Source.API)
            batch.status, batch.n_instances = Status.PENDING, len(files)
            batch.save(update_fields=["status", "import_job", "n_instances", "queued_at"])
            dispatch.import_received(batch)
    log.info("received study %s: %d instance(s) handed to a worker", batch.study_uid, len(files))
    return True


def resend_stale(stale_s: float) -> list[int]:
    """Send again the batches handed over more than ``stale_s`` seconds ago that no worker has taken (a
    message lost with a broker that was down); the older message, should it still come, does nothing."""
    cutoff = timezone.now() - timedelta(seconds=stale_s)
    resent: list[int] = []
    for pk in ReceivedStudy.objects.filter(status=Status.PENDING, queued_at__lte=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            batch = ReceivedStudy.objects.select_for_update().get(pk=pk)
            if batch.status == Status.PENDING:
                batch.queued_at = timezone.now()
                batch.save(update_fields=["queued_at"])
                dispatch.import_received(batch)
                resent.append(pk)
    return resent


def import_received(batch_id: int, attempt: int) -> str:
    """On a worker: import a handed-over batch through its import job; returns the batch's status.

    Harmless when delivered twice: a message of an older attempt, or for a batch already finished, does
    nothing; a redelivered one (its worker died) runs the job again, which ingest makes safe.
    """
    with transaction.atomic():
        batch = ReceivedStudy.objects.select_for_update().filter(pk=batch_id).first()
        if (
            batch is None
            or batch.attempt != attempt
            or batch.status not in (Status.PENDING, Status.IMPORTING)
        ):
            return batch.status if batch is not None else "missing"
        if batch.import_job_id is None:
            batch.status, batch.finished_at = Status.FAILED, timezone.now()
            batch.reasons = [*batch.reasons, {"instance": "", "reason": "its import job was deleted"}]
            batch.save(update_fields=["status", "finished_at", "reasons"])
            return batch.status
        batch.status = Status.IMPORTING
        batch.save(update_fields=["status"])
    job = ingest.run_job(str(batch.import_job_id))
    return _finish(batch_id, job)


def _finish(batch_id: int, job: ImportJob) -> str:
    """Record the outcome of the import job on the batch: imported (something stored) or failed."""
    with transaction.atomic():
        batch = ReceivedStudy.objects.select_for_update().get(pk=batch_id)
        if batch.status != Status.IMPORTING:
            return batch.status
        skipped = [row for row in job.report if row.get("status") != ingest.ACCEPTED]
        reasons = [{"instance": Path(row["file"]).stem, "reason": row["reason"]} for row in skipped]
        if job.status != ImportJob.Status.DONE:
            reasons.append({"instance": "", "reason": job.message})
        batch.reasons = [*batch.reasons, *reasons]
        batch.n_refused += len(skipped)
        stored = job.status == ImportJob.Status.DONE and job.n_accepted > 0
        batch.status = Status.IMPORTED if stored else Status.FAILED
        batch.finished_at = timezone.now()
        batch.save(update_fields=["reasons", "n_refused", "status", "finished_at"])
    log.info("received study %s: %s (%s)", batch.study_uid, batch.status, job.message)
    return batch.status


def purge_spool() -> int:
    """Remove spool folders of batches no longer receiving (left by a listener stopped at a bad moment)."""
    root = Path(settings.ICHWEB_DICOM_SPOOL_DIR)
    if not root.is_dir():
        return 0
    receiving = {
        str(pk) for pk in ReceivedStudy.objects.filter(status=Status.RECEIVING).values_list("pk", flat=True)
    }
    removed = 0
    for folder in root.iterdir():
        if folder.is_dir() and folder.name not in receiving:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
