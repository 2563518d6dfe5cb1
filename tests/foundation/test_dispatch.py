"""One way out to the workers: task names, queue kinds and queue names (``ichweb.dispatch``)."""

from __future__ import annotations

import pytest

from ichweb import dispatch
from ichweb.celery import app, queue_name


def test_every_dispatched_task_is_registered_on_the_queue_kind_it_is_sent_to():
    app.loader.import_default_modules()
    for name, kind in dispatch.KINDS.items():
        assert name in app.tasks, f"{name} is not a registered task"
        assert app.tasks[name].queue_kind == kind


def test_queue_names_come_from_the_settings_when_the_message_is_sent(settings, monkeypatch):
    settings.ICHWEB_GPU_QUEUE, settings.ICHWEB_DEFAULT_QUEUE = "gpu-site-a", "web-site-a"
    sent: list[tuple[str, dict, str]] = []
    monkeypatch.setattr(app, "send_task", lambda name, kwargs, queue: sent.append((name, kwargs, queue)))
    dispatch.send(dispatch.TASK_INFERENCE, job_id=3, attempt=1)
    dispatch.send(dispatch.TASK_RECOVER_STALE)
    assert sent == [
        ("ichweb.modeling.tasks.run_inference", {"job_id": 3, "attempt": 1}, "gpu-site-a"),
        ("ichweb.modeling.tasks.recover_stale_work", {}, "web-site-a"),
    ]


def test_a_row_is_sent_only_when_its_transaction_commits(db, monkeypatch, django_capture_on_commit_callbacks):
    sent: list[str] = []
    monkeypatch.setattr(dispatch, "send", lambda name, **kwargs: sent.append(name))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dispatch.import_upload("abc")
    assert sent == [] and len(callbacks) == 1
    callbacks[0]()
    assert sent == [dispatch.TASK_IMPORT_UPLOAD]


def test_unknown_tasks_and_kinds_are_refused():
    with pytest.raises(ValueError, match="KINDS"):
        dispatch.send("ichweb.tasks.nothing")
    with pytest.raises(ValueError, match="queue kind"):
        queue_name("cpu")  # type: ignore[arg-type]


def test_eager_mode_runs_the_task_in_this_process(settings, monkeypatch):
    ran: list[dict] = []
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    app.loader.import_default_modules()
    monkeypatch.setattr(app.tasks[dispatch.TASK_RECOVER_STALE], "run", lambda **kw: ran.append(kw) or {})
    dispatch.send(dispatch.TASK_RECOVER_STALE)
    assert ran == [{}]
