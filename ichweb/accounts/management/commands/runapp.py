"""Start the web server and one Celery worker serving both queues; Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the development web server and a Celery worker (queues default and gpu) together."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port of the web server")
        parser.add_argument("--concurrency", type=int, default=1, help="worker processes")

    def handle(self, *args: Any, **options: Any) -> None:
        # A SIGTERM (docker stop, timeout) stops both children just like Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        python = sys.executable
        worker = [
            python,
            "-m",
            "celery",
            "-A",
            "ichweb",
            "worker",
            "-Q",
            "default,gpu",
            "--concurrency",
            str(options["concurrency"]),
            "--loglevel",
            "INFO",
            "-n",
            "local@%h",
        ]
        web = [python, "manage.py", "runserver", options["addr"]]
        procs = [subprocess.Popen(worker), subprocess.Popen(web)]
        self.stdout.write(
            self.style.SUCCESS(f"ICHweb on http://{options['addr']}/ — Ctrl-C stops web and worker.")
        )
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            self.stderr.write("A process stopped; stopping the other.")
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
