"""/healthz: database, broker, workers and lost work as JSON. No secrets, no authentication."""

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


def check_work() -> dict[str, Any]:
    """Running training runs and inference jobs whose worker is gone (re-sent by the next live worker)."""
    from ichweb.modeling.recovery import count_orphaned

    orphaned = count_orphaned()
    return {"ok": orphaned == 0, "orphaned": orphaned}


@never_cache
@require_GET
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and broker answer, else 503.

    Status "ok", or "degraded" without a worker or with running work whose worker is gone.
    """
    report = {"database": _timed(check_database), "broker": _timed(check_broker)}
    report["worker"] = (
        _timed(check_workers) if report["broker"]["ok"] else {"ok": False, "error": "broker down"}
    )
    report["work"] = (
        _timed(check_work) if report["database"]["ok"] else {"ok": False, "error": "database down"}
    )
    essential = report["database"]["ok"] and report["broker"]["ok"]
    healthy = essential and report["worker"]["ok"] and report["work"]["ok"]
    status = "ok" if healthy else ("degraded" if essential else "down")
    return JsonResponse({"status": status, **report}, status=200 if essential else 503)
