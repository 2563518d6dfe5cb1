"""Start the web server and two Celery workers (default queue; gpu queue, one task at a time).

A worker that dies (killed, crashed) is started again after a short wait that doubles with each quick
failure (a crash loop does not spin); the web server stopping, Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.management.base import BaseCommand


class Process(Protocol):
    def poll(self) -> int | None: ...
    def send_signal(self, sig: int) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def kill(self) -> None: ...


@dataclass(frozen=True)
class Child:
    """A process to supervise: ``start`` launches it; ``restart`` False means its exit stops everything."""

    name: str
    start: Callable[[], Process]
    restart: bool = True


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def supervise(
    children: Sequence[Child],
    *,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_s: float = 0.5,
    first_delay_s: float = 1.0,
    max_delay_s: float = 60.0,
    healthy_after_s: float = 60.0,
    stop_timeout_s: float = 20.0,
) -> None:
    """Run ``children`` until one that may not restart stops, or Ctrl-C/SIGTERM (``KeyboardInterrupt``).

    A restartable child that stops is started again after ``first_delay_s``, doubling per failure up to
    ``max_delay_s``; one that ran ``healthy_after_s`` before failing starts again from the first delay.
    On the way out every running child gets SIGTERM, and SIGKILL after ``stop_timeout_s``.
    """
    procs: dict[str, Process | None] = {}
    started: dict[str, float] = {}
    failures = {child.name: 0 for child in children}
    due: dict[str, float] = {}
    try:
        for child in children:
            procs[child.name], started[child.name] = child.start(), clock()
        while True:
            for child in children:
                now = clock()
                proc = procs[child.name]
                if proc is None:
                    if now >= due[child.name]:
                        procs[child.name], started[child.name] = child.start(), now
                        del due[child.name]
                        say(f"{child.name} started again.")
                    continue
                code = proc.poll()
                if code is None:
                    continue
                if not child.restart:
                    say(f"{child.name} stopped ({describe_exit(code)}); stopping the others.")
                    return
                if now - started[child.name] >= healthy_after_s:
                    failures[child.name] = 0
                delay = min(first_delay_s * 2 ** failures[child.name], max_delay_s)
                failures[child.name] += 1
                say(f"{child.name} stopped ({describe_exit(code)}); starting it again in {delay:g} s.")
                procs[child.name], due[child.name] = None, now + delay
            sleep(poll_s)
    except KeyboardInterrupt:
        pass
    finally:
        running = [p for p in procs.values() if p is not None and p.poll() is None]
        for p in running:
            p.send_signal(signal.SIGTERM)
        for p in running:
            try:
                p.wait(timeout=stop_timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()


class Command(BaseCommand):
    help = "Run the development web server, a default-queue worker and a gpu-queue worker together."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port of the web server")
        parser.add_argument(
            "--concurrency", type=int, default=1, help="processes of the default-queue worker"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # A SIGTERM (docker stop, timeout) stops the children just like Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        python = sys.executable

        def worker(queue: str, concurrency: int, name: str) -> Child:
            cmd = [
                *(python, "-m", "celery", "-A", "ichweb", "worker", "-Q", queue),
                *("--concurrency", str(concurrency), "--loglevel", "INFO", "-n", f"{name}@%h"),
            ]
            return Child(f"worker {name}", lambda: subprocess.Popen(cmd))

        web = [python, "manage.py", "runserver", options["addr"]]
        # Training and inference (gpu queue) run one at a time and never hold up imports (default queue).
        children = [
            worker(settings.ICHWEB_DEFAULT_QUEUE, options["concurrency"], "local"),
            worker(settings.ICHWEB_GPU_QUEUE, 1, "local-gpu"),
            Child("web server", lambda: subprocess.Popen(web), restart=False),
        ]
        children += self.dicom_listener(python)
        self.stdout.write(
            self.style.SUCCESS(
                f"ICHweb on http://{options['addr']}/ — Ctrl-C stops the web server and the workers."
            )
        )
        supervise(children, say=lambda line: self.stderr.write(f"runapp: {line}"))

    def dicom_listener(self, python: str) -> list[Child]:
        """The DICOM C-STORE listener (ichweb.interop), when ``ICHWEB_DICOM_LISTENER`` asks for it and
        ``ICHWEB_DICOM_ALLOWED_AES`` names who may send (without it the listener would refuse to start)."""
        if not settings.ICHWEB_DICOM_LISTENER:
            return []
        if not settings.ICHWEB_DICOM_ALLOWED_AES:
            self.stderr.write(
                "runapp: ICHWEB_DICOM_LISTENER is on but ICHWEB_DICOM_ALLOWED_AES is empty: no listener."
            )
            return []
        cmd = [python, "manage.py", "dicom_listener"]
        port = settings.ICHWEB_DICOM_PORT
        self.stdout.write(
            f"DICOM listener {settings.ICHWEB_DICOM_AE_TITLE} on {settings.ICHWEB_DICOM_HOST}:{port}."
        )
        return [Child("dicom listener", lambda: subprocess.Popen(cmd))]
