"""Sending DICOM exports to their destinations: STOW-RS over HTTP or C-STORE over DICOM, with retries.

A send job (``SendJob``) is made by a lead (``ichweb.interop.api``) and sent through ``ichweb.dispatch`` to a
default-queue worker, which calls ``run``: it builds the export once, then tries the destination up to
``ICHWEB_EXPORT_SEND_ATTEMPTS`` times, waiting ``ICHWEB_EXPORT_BACKOFF_S`` after the first failure and twice
as long after each further one. Every try is counted on the row, and the last error is kept, so a lead's list
shows what happens. A destination that answers is never half-written to: one export is one instance.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from io import BytesIO

import pydicom
from django.conf import settings
from django.utils import timezone
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ichweb.interop import export
from ichweb.interop.models import ExportDestination, SendJob

log = logging.getLogger(__name__)

FINISHED = (SendJob.Status.SENT, SendJob.Status.FAILED)


class SendError(Exception):
    """A destination did not take the export; the message says what it answered (or that it did not)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error here: urllib would repeat the POST as a GET without its body."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def stow(destination: ExportDestination, data: bytes) -> None:
    """POST one PS3.10 file to a STOW-RS studies URL; anything but 200 is a ``SendError``."""
    boundary = f"ichweb-{uuid.uuid4().hex}"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    if not destination.url.lower().startswith(("http://", "https://")):
        raise SendError(
            f"destination {destination.name!r}: its url must be an http:// or https:// STOW-RS URL"
        )
    request = urllib.request.Request(destination.url, data=body, method="POST")  # noqa: S310  (http(s) only)
    request.add_header("Content-Type", f'multipart/related; type="application/dicom"; boundary={boundary}')
    request.add_header("Accept", "application/dicom+json")
    if destination.token:
        request.add_header("Authorization", f"Bearer {destination.token}")
    try:
        with _OPENER.open(request, timeout=settings.ICHWEB_EXPORT_TIMEOUT_S) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            raise SendError(
                f"STOW-RS {destination.url} answered {error.code}, a redirect to "
                f"{error.headers.get('Location')}: set the destination's url to where it points"
            ) from None
        raise SendError(
            f"STOW-RS {destination.url} answered {error.code}: {_excerpt(error.read())}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SendError(f"STOW-RS {destination.url} could not be reached: {reason}") from None
    if status != 200:
        raise SendError(
            f"STOW-RS {destination.url} answered {status} (not every instance stored): {_excerpt(answer)}"
        )


def _excerpt(answer: bytes) -> str:
    """The start of an answer's body, failure reasons first when it is DICOM JSON."""
    text = answer.decode("utf-8", "replace")
    try:
        reasons = [
            item.get("00081197", {}).get("Value", [None])[0]
            for item in json.loads(text).get("00081198", {}).get("Value", [])
        ]
        if reasons:
            return (
                f"FailureReason {', '.join(f'{r:04X}' for r in reasons if isinstance(r, int))}; {text[:300]}"
            )
    except (ValueError, AttributeError):
        pass
    return text[:300] or "(no body)"


def cstore(destination: ExportDestination, data: bytes) -> None:
    """C-STORE one instance to a DICOM peer; a rejected association or a failure status is a ``SendError``."""
    from pynetdicom import AE

    ds = pydicom.dcmread(BytesIO(data))
    timeout = settings.ICHWEB_EXPORT_TIMEOUT_S
    ae = AE(ae_title=destination.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    ae.add_requested_context(ds.SOPClassUID, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    where = f"{destination.called_ae}@{destination.host}:{destination.port}"
    assoc = ae.associate(destination.host, int(destination.port or 0), ae_title=destination.called_ae)
    if not assoc.is_established:
        what = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"
        raise SendError(
            f"C-STORE to {where}: association {what} (is the peer listening, and does it know AE "
            f"title {destination.calling_ae}?)"
        )
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    if not status or "Status" not in status:
        raise SendError(f"C-STORE to {where}: no answer (the connection was lost or timed out)")
    code = int(status.Status)
    if code != 0x0000 and not 0xB000 <= code <= 0xBFFF:
        comment = f": {status.ErrorComment}" if "ErrorComment" in status else ""
        raise SendError(f"C-STORE to {where} refused the instance with status 0x{code:04X}{comment}")


def deliver(destination: ExportDestination, data: bytes) -> None:
    """Send one export to ``destination`` by its kind."""
    if destination.kind == ExportDestination.Kind.STOW:
        stow(destination, data)
    elif destination.kind == ExportDestination.Kind.CSTORE:
        cstore(destination, data)
    else:
        raise SendError(f"destination {destination.name!r} has an unknown kind {destination.kind!r}")


def _claim(send_job_id: int, dispatch: int) -> SendJob | None:
    """The job, now ``sending``, if this message is its current dispatch and it has not finished."""
    claimed = (
        SendJob.objects.filter(pk=send_job_id, dispatch=dispatch)
        .exclude(status__in=FINISHED)
        .update(status=SendJob.Status.SENDING, started_at=timezone.now())
    )
    return SendJob.objects.select_related("destination").get(pk=send_job_id) if claimed else None


def _finish(job: SendJob, status: str, error: str = "") -> str:
    job.status, job.last_error, job.finished_at = status, error, timezone.now()
    job.save(update_fields=["status", "last_error", "finished_at", "attempts", "sop_instance_uid"])
    log.info("send job %s %s%s", job.pk, status, f": {error}" if error else "")
    return str(status)


def run(send_job_id: int, dispatch: int) -> str:
    """Send job ``send_job_id`` under dispatch token ``dispatch``: build the export, then try, with backoff.

    A message of an older dispatch, or for a finished job, does nothing ("skipped"). An export that cannot
    be built (no ground truth, say) fails at once; an unreachable or refusing destination is tried again.
    """
    job = _claim(send_job_id, dispatch)
    if job is None:
        return "skipped"
    try:
        built = export.build(job.what, job.object_id)
    except (export.NotExportable, ValueError) as error:
        return _finish(job, SendJob.Status.FAILED, f"could not build the export: {error}")
    except Exception as error:  # an unknown id, a broken file: nothing to retry
        return _finish(
            job, SendJob.Status.FAILED, f"could not build the export: {type(error).__name__}: {error}"
        )
    job.sop_instance_uid = str(built.dataset.SOPInstanceUID)
    limit = int(settings.ICHWEB_EXPORT_SEND_ATTEMPTS)
    for n in range(limit):
        job.attempts += 1
        try:
            deliver(job.destination, built.data)
        except Exception as error:  # every failure of a try is recorded; the last one is the job's error
            job.last_error = (
                str(error) if isinstance(error, SendError) else f"{type(error).__name__}: {error}"
            )
            job.save(update_fields=["attempts", "last_error"])
            if n + 1 < limit:
                time.sleep(float(settings.ICHWEB_EXPORT_BACKOFF_S) * 2**n)
            continue
        return _finish(job, SendJob.Status.SENT)
    return _finish(job, SendJob.Status.FAILED, f"{job.last_error} (after {job.attempts} tries)")
