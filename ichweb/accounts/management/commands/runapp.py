"""Start the web server and two Celery workers (default queue; gpu queue, one task at a time)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the development web server, a default-queue worker and a gpu-queue worker together."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port of the web server")
        parser.add_argument(
            "--concurrency", type=int, default=1, help="processes of the default-queue worker"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # A SIGTERM (docker stop, timeout) stops both children just like Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        python = sys.executable

        def worker(queue: str, concurrency: int, name: str) -> list[str]:
            return [
                *(python, "-m", "celery", "-A", "ichweb", "worker", "-Q", queue),
                *("--concurrency", str(concurrency), "--loglevel", "INFO", "-n", f"{name}@%h"),
            ]

        # Training and inference (gpu queue) run one at a time and never hold up imports (default queue).
        workers = [
            worker(settings.ICHWEB_DEFAULT_QUEUE, options["concurrency"], "local"),
            worker(settings.ICHWEB_GPU_QUEUE, 1, "local-gpu"),
        ]
        web = [python, "manage.py", "runserver", options["addr"]]
        procs = [*(subprocess.Popen(w) for w in workers), subprocess.Popen(web)]
        self.stdout.write(
            self.style.SUCCESS(
                f"ICHweb on http://{options['addr']}/ — Ctrl-C stops the web server and the workers."
            )
        )
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            self.stderr.write("A process stopped; stopping the others.")
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
