from __future__ import annotations

from typing import Any

from ichweb.celery import task
from ichweb.imaging import ingest


@task(queue="default")
def import_upload(self: Any, *, job_id: str) -> str:
    """Import an uploaded batch of files (a thin wrapper: the service does the work and the reporting)."""
    return ingest.run_job(job_id).status
