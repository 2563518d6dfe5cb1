from __future__ import annotations

from typing import Any

from ichweb.celery import task
from ichweb.interop import receiver


@task(queue="default")
def import_received_study(self: Any, *, received_id: int, attempt: int) -> str:
    """Import a study received over C-STORE (a thin wrapper: ``receiver.import_received`` does the work)."""
    return receiver.import_received(received_id, attempt)
