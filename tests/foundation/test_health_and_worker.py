"""/healthz and a task round trip through a real worker process."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from ichweb.tasks import ping


def test_healthz_reports_without_auth_or_secrets(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["status"] in ("ok", "degraded")
    assert body["status"] == ("ok" if body["worker"]["ok"] else "degraded")
    text = json.dumps(body)
    assert settings.SECRET_KEY not in text
    assert str(settings.DATABASES["default"]["NAME"]) not in text


def test_healthz_is_503_when_the_database_is_down(client, db, monkeypatch):
    def broken():
        raise ConnectionError("password=hunter2 host=db")

    monkeypatch.setattr("ichweb.health.check_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {
        "ok": False,
        "error": "ConnectionError",
        "ms": pytest.approx(0, abs=50),
    }
    assert "hunter2" not in response.text


def _round_trip(client, worker) -> None:
    result = ping.apply_async(kwargs={"payload": "hello"}, queue=worker.queue)
    reply = result.get(timeout=120)
    assert reply["payload"] == "hello"
    assert reply["queue"] == worker.queue
    assert reply["pid"] != __import__("os").getpid()
    body = client.get("/healthz").json()
    assert body["worker"]["ok"] is True and body["status"] == "ok"


@pytest.mark.slow
def test_task_round_trip_through_a_real_worker_on_the_embedded_broker(client, celery_worker_process):
    assert settings.CELERY_BROKER_URL == "filesystem://"
    _round_trip(client, celery_worker_process)


@pytest.mark.services
def test_task_round_trip_through_a_real_worker_on_redis_and_postgresql(client, celery_worker_process):
    from django.db import connection

    assert settings.CELERY_BROKER_URL.startswith(("redis://", "amqp://"))
    assert connection.vendor == "postgresql"
    _round_trip(client, celery_worker_process)
