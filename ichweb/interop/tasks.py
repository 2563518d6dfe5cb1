from __future__ import annotations

from typing import Any

from ichweb.celery import task
from ichweb.interop import receiver, send


@task(queue="default")
def import_received_study(self: Any, *, received_id: int, attempt: int) -> str:
    """Import a study received over C-STORE (a thin wrapper: ``receiver.import_received`` does the work)."""
    return receiver.import_received(received_id, attempt)


@task(queue="default")
def send_export(self: Any, *, send_job_id: int, dispatch: int) -> str:
    """Send a DICOM export to its destination (a thin wrapper: ``send.run`` tries, with backoff)."""
    return send.run(send_job_id, dispatch)
