"""/healthz: database, broker and worker reachability as JSON. No secrets, no authentication."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ichweb.celery import app


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result: dict[str, Any] = {"ok": True, **(check() or {})}
    except Exception as exc:
        # The class name says what failed without echoing hosts or credentials from the message.
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connections["default"].vendor}


def check_broker() -> dict[str, Any]:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": conn.transport_cls if isinstance(conn.transport_cls, str) else "custom"}


def check_workers(timeout: float = 1.0) -> dict[str, Any]:
    replies = app.control.ping(timeout=timeout) or []
    names = {name for reply in replies for name in reply}
    return {"ok": bool(names), "count": len(names)}


@never_cache
@require_GET
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and broker answer (status "ok", or "degraded" without a worker), else 503."""
    report = {"database": _timed(check_database), "broker": _timed(check_broker)}
    report["worker"] = (
        _timed(check_workers) if report["broker"]["ok"] else {"ok": False, "error": "broker down"}
    )
    essential = report["database"]["ok"] and report["broker"]["ok"]
    status = "ok" if essential and report["worker"]["ok"] else ("degraded" if essential else "down")
    return JsonResponse({"status": status, **report}, status=200 if essential else 503)
