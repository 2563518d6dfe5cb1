"""Project-wide fixtures: users named after their role, plain HTTP in tests, a real Celery worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection

from tests.accounts.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    # The test client speaks plain HTTP; production redirects to HTTPS (checked by test_deploy_check).
    settings.SECURE_SSL_REDIRECT = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    # Production serves collected, hashed files (collectstatic); tests serve the sources.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # API throttle counts live in the default cache; user ids repeat from test to test.
    cache.clear()


@pytest.fixture
def alice(db):
    """alice, a team lead."""
    return UserFactory(username="alice", roles=("lead",))


@pytest.fixture
def bob(db):
    """bob, a labeler."""
    return UserFactory(username="bob", roles=("labeler",))


@pytest.fixture
def carol(db):
    """carol, a reader-study participant (blinded)."""
    return UserFactory(username="carol", roles=("reader",))


@pytest.fixture
def dan(db):
    """dan, an administrator (admin role, staff)."""
    user = UserFactory(username="dan", roles=("admin",))
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def mallory(db):
    """mallory, logged in but holding no role."""
    return UserFactory(username="mallory")


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Two busy cores: torch's second thread only waits. One thread keeps training tests fast."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def require_tool(command: str, package: str) -> None:
    """Skip the test where the external program ``command`` is missing; in CI (``CI`` set) fail instead:
    ``.ci/run`` installs every peer the tests use, so a missing one there is a broken set-up, not a skip."""
    import shutil

    if shutil.which(command) is None:
        message = f"{command} not found: apt-get install {package}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def database_url() -> str:
    """A URL for the database the tests use, for processes started by a test (e.g. a worker)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


@dataclass(frozen=True)
class Worker:
    name: str
    queue: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once (its own process group): a lost host."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[Worker]:
    yield from start_worker()


def start_worker(extra_env: dict[str, str] | None = None, queue: str | None = None) -> Iterator[Worker]:
    """A real ``celery worker`` subprocess on the configured broker, consuming a queue of its own.

    The private queue keeps a developer's running worker from taking the test's tasks; the worker uses the
    test database, so results written there are seen by the test.
    """
    from ichweb.celery import app

    extra_env = extra_env or {}
    queue = queue or f"test-{uuid.uuid4().hex[:8]}"
    name = f"{queue}-{uuid.uuid4().hex[:4]}@localhost"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "ICHWEB_VAR_DIR": str(django_settings.VAR_DIR),
        "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
        "SECRET_KEY": django_settings.SECRET_KEY,
        # Work the worker itself sends on (next training step, recovery) goes to its private queue too.
        "ICHWEB_GPU_QUEUE": queue,
        "ICHWEB_DEFAULT_QUEUE": queue,
        **extra_env,
    }
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "ichweb",
        "worker",
        "-Q",
        queue,
        "-n",
        name,
        "--concurrency",
        "1",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not app.control.ping(destination=[name], timeout=0.5):
            if process.poll() is not None:
                pytest.fail(f"celery worker exited with {process.returncode} before answering")
            if time.monotonic() > deadline:
                pytest.fail("celery worker did not answer a ping within 90 s")
        yield Worker(name=name, queue=queue, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
