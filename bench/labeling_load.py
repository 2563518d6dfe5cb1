"""Labeling under load: N simulated labelers autosaving against a real server on PostgreSQL.

    .venv/bin/python bench/labeling_load.py --users 50 --seconds 30 [--database-url postgres://...]

Starts gunicorn on 127.0.0.1 with the app on PostgreSQL (a scratch database, created and dropped), creates N
labelers with their own reads of a few small phantom studies, then each simulated labeler logs in and writes
labels (PUT .../labels with its current version, the way the viewer's write queue does) as fast as the server
answers, for the given time. Printed: writes/s, p50/p99 latency, errors, and lost writes (labels the server
does not hold at the end although the write was acknowledged). The baseline, measured in the same run, is one
labeler alone: the ratio of p99 under load to that p50 shows what the crowd costs. Targets: 50 users,
p99 < 100 ms, 0 lost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "load-test-password-123"  # noqa: S105 -- scratch users of a scratch database
CODES = ["IPH", "IVH", "SDH", "EDH", "SAH"]


def scratch_database(url: str) -> str:
    import psycopg2

    parsed = urllib.parse.urlsplit(url)
    name = f"ichweb_bench_{os.getpid()}"
    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    return urllib.parse.urlunsplit(parsed._replace(path=f"/{name}")), name


def drop_database(url: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


def prepare(n_users: int, work: Path) -> list[tuple[str, int]]:
    """Users, studies and a project in which every user reads every case; returns (username, read id)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from ichweb.imaging.ingest import import_items
    from ichweb.imaging.models import Study
    from ichweb.labeling.models import Read
    from ichweb.labeling.services import create_project
    from ml.phantom import PhantomConfig, generate_dataset

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    generate_dataset(
        PhantomConfig(seed=5, size=64, slices_min=12, slices_max=12), work / "ph", 2, progress=False
    )
    import_items([("ph", work / "ph")])
    labeler, _ = Group.objects.get_or_create(name="labeler")
    lead = get_user_model().objects.create_user("lead", password=PASSWORD)
    users = []
    for i in range(n_users):
        user = get_user_model().objects.create_user(f"labeler{i:03d}", password=PASSWORD)
        user.groups.add(labeler)
        users.append(user)
    create_project(
        lead=lead, name="load", studies=list(Study.objects.all()), readers=users, readers_per_case=n_users
    )
    first = {}
    for read in Read.objects.order_by("pk"):
        first.setdefault(read.reader.username, read.pk)
    return [(u.username, first[u.username]) for u in users]


class Labeler(threading.Thread):
    def __init__(
        self,
        port: int,
        username: str,
        read_id: int,
        start: threading.Barrier,
        seconds: float,
        seed: int,
        think: float = 0.0,
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.username, self.read_id = port, username, read_id
        self.start_line, self.seconds, self.think = start, seconds, think
        self.rng = random.Random(seed)  # noqa: S311 -- a workload, not a secret
        self.latencies: list[float] = []
        self.errors = 0
        self.failure = ""
        self.expected: dict[str, list[str]] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection: a browser reconnects and resends too.
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        for value in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, data

    def login(self) -> None:
        _, page = self._request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode(
            {"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token}
        ).encode()
        status, _ = self._request(
            "POST", "/accounts/login/", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 302, f"login of {self.username} failed ({status})"

    def run(self) -> None:
        try:
            self._work()
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"

    def _work(self) -> None:
        # Logging in (a deliberately slow password hash) happens before the clock starts.
        try:
            self.login()
        finally:
            self.start_line.wait()
        url = f"/api/v1/labeling/reads/{self.read_id}/"
        _, body = self._request("GET", url)
        detail = json.loads(body)
        version, n = detail["version"], detail["case"]["series"]["n_slices"]
        headers = {"Content-Type": "application/json", "X-CSRFToken": self.cookies.get("csrftoken", "")}
        until = time.monotonic() + self.seconds
        while time.monotonic() < until:
            if self.think:
                time.sleep(self.rng.expovariate(1 / self.think))
            index = str(self.rng.randrange(n))
            codes = sorted(self.rng.sample(CODES, self.rng.randint(0, 2)))
            payload = json.dumps(
                {"version": version, "slices": {index: codes}, "last_slice_index": int(index)}
            )
            started = time.perf_counter()
            try:
                status, body = self._request("PUT", url + "labels", payload.encode(), headers)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            self.latencies.append(time.perf_counter() - started)
            if status == 200:
                version = json.loads(body)["version"]
                self.expected[index] = codes
            else:
                self.errors += 1

    def lost(self) -> int:
        _, body = self._request("GET", f"/api/v1/labeling/reads/{self.read_id}/")
        held = json.loads(body)["labels"]
        return sum(held.get(index) != codes for index, codes in self.expected.items())


def run_phase(
    port: int, people: list[tuple[str, int]], seconds: float, think: float = 0.0
) -> dict[str, float]:
    start = threading.Barrier(len(people))
    threads = [
        Labeler(port, name, read, start, seconds, seed=i, think=think)
        for i, (name, read) in enumerate(people)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = [t.failure for t in threads if t.failure]
    if failures:
        raise SystemExit(f"{len(failures)} labeler(s) failed, e.g. {failures[0]}")
    latencies = sorted(x for t in threads for x in t.latencies)
    return {
        "users": len(threads),
        "writes": len(latencies),
        "writes_per_s": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "errors": sum(t.errors for t in threads),
        "lost": sum(t.lost() for t in threads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause between a labeler's writes (0 = write as fast as answered)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()

    db_url, db_name = scratch_database(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="ichweb-load-"))
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "ICHWEB_VAR_DIR": str(work / "var"),
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STATIC_ROOT": str(work / "static"),
        "DJANGO_SETTINGS_MODULE": "ichweb.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    server = None
    try:
        people = prepare(args.users, work)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "ichweb.wsgi",
                "--bind",
                f"127.0.0.1:{args.port}",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", args.port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        think = args.think_ms / 1000
        solo = run_phase(args.port, people[:1], min(10.0, args.seconds), think)
        crowd = run_phase(args.port, people, args.seconds, think)
        print(
            f"server: gunicorn {args.workers} workers x {args.threads} threads, PostgreSQL; "
            f"think time {args.think_ms:.0f} ms"
        )
        for label, r in (("1 labeler (baseline)", solo), (f"{args.users} labelers", crowd)):
            print(
                f"{label:22s}: {r['writes_per_s']:7.1f} writes/s, p50 {r['p50_ms']:6.1f} ms, "
                f"p99 {r['p99_ms']:6.1f} ms, errors {r['errors']}, lost {r['lost']}"
            )
        print(
            f"p99 under load / p50 alone: {crowd['p99_ms'] / solo['p50_ms']:.1f}x   "
            f"(targets: p99 < 100 ms, 0 lost)"
        )
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        drop_database(args.database_url, db_name)


if __name__ == "__main__":
    main()
