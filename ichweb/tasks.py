"""Project-level tasks that belong to no domain room."""

from __future__ import annotations

import os
import socket
from typing import Any

from ichweb.celery import task


@task(queue="default")
def ping(self: Any, *, payload: str = "ping") -> dict[str, Any]:
    """Round trip through a real worker: echoes the payload with the worker's host, pid and queue."""
    delivery = self.request.delivery_info or {}
    return {
        "payload": payload,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "queue": delivery.get("routing_key"),
    }
