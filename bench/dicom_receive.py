"""DICOM receive throughput: N phantom slices pushed with dcmtk's storescu to ICHweb's C-STORE listener and to
Orthanc, in the same run, against a bare pydicom loop over the same files.

    .venv/bin/python bench/dicom_receive.py --slices 286 [--quick]

ICHweb's time runs from the start of storescu until every received study is imported: the listener (in this
process) spools the instances, waits ``--idle-s`` after a study's last instance, then de-identifies and
imports it through ingest (SQLite in a temporary folder, the import task run eagerly, in-process). Orthanc's
time runs until its ``/statistics`` count all N instances. Target: ICHweb's slices/s >= Orthanc's.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.interop.orthanc import AE_TITLE, running_orthanc  # noqa: E402  (after the path is set)


def make_phantoms(out: Path, n_slices: int, seed: int) -> list[Path]:
    """Phantom cases of up to 30 slices each, ``n_slices`` in all (the first of them if more)."""
    from ml.phantom import PhantomConfig, generate_dataset

    per_case = min(30, n_slices)
    config = PhantomConfig(seed=seed, slices_min=per_case, slices_max=per_case)
    generate_dataset(config, out, n_cases=math.ceil(n_slices / per_case), progress=False)
    return sorted(out.rglob("*.dcm"))[:n_slices]


def bare_loop(files: list[Path]) -> float:
    """Seconds to read every file and decode its pixels with pydicom."""
    import pydicom

    started = time.perf_counter()
    for path in files:
        pydicom.dcmread(path).pixel_array  # noqa: B018
    return time.perf_counter() - started


def storescu(port: int, called: str, files: list[Path]) -> None:
    """Push ``files`` in one association from AE BENCH."""
    cmd = ["storescu", "-aet", "BENCH", "-aec", called, "127.0.0.1", str(port), *map(str, files)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)


def wait_until(condition: Callable[[], object], timeout: float = 600.0) -> None:
    """Poll ``condition`` every 20 ms until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(0.02)


def ichweb_receive(files: list[Path], idle_s: float) -> float:
    """Seconds from storescu's start until the in-process listener has imported every study."""
    from ichweb.celery import app
    from ichweb.interop.listener import Listener, ListenerConfig
    from ichweb.interop.models import ReceivedStudy

    app.conf.task_always_eager = True
    n_studies = len({f.parent.parent for f in files})
    listener = Listener(ListenerConfig("ICHWEB", "127.0.0.1", 0, ("BENCH",), idle_s))
    listener.start()
    try:
        started = time.perf_counter()
        storescu(listener.port, "ICHWEB", files)
        imported = ReceivedStudy.objects.filter(status=ReceivedStudy.Status.IMPORTED)
        wait_until(lambda: imported.count() >= n_studies)
        elapsed = time.perf_counter() - started
    finally:
        listener.stop()
    assert sum(imported.values_list("n_instances", flat=True)) == len(files)
    return elapsed


def orthanc_receive(files: list[Path], root: Path) -> float:
    """Seconds from storescu's start until a fresh Orthanc (own temporary storage) counts every instance."""
    with running_orthanc(root, name="ichweb-bench") as orthanc:
        wait_until(lambda: orthanc.n_instances() == 0, timeout=60)
        started = time.perf_counter()
        storescu(orthanc.dicom_port, AE_TITLE, files)
        wait_until(lambda: orthanc.n_instances() >= len(files))
        return time.perf_counter() - started


def setup_django(work: Path) -> None:
    """Django on a scratch SQLite database and media folder under ``work``, migrated."""
    os.environ.update(
        {
            "ICHWEB_VAR_DIR": str(work / "var"),
            "MEDIA_ROOT": str(work / "media"),
            "DJANGO_SETTINGS_MODULE": "ichweb.settings",
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ICHWEB_DICOM_SPOOL_DIR = work / "spool"
    call_command("migrate", verbosity=0)
    for name in ("pynetdicom", "ichweb", "celery", "highdicom"):
        logging.getLogger(name).setLevel(logging.WARNING)


def report(n: int, bare: float, ours: float, orthanc: float, idle_s: float) -> None:
    """Print the table of throughputs and ratios."""
    ratio = orthanc / ours
    print(f"bare pydicom loop : {bare:6.2f} s  ({n / bare:6.0f} slices/s)")
    print(f"ICHweb listener   : {ours:6.2f} s  ({n / ours:6.0f} slices/s, incl. {idle_s:g} s idle wait)")
    print(f"Orthanc           : {orthanc:6.2f} s  ({n / orthanc:6.0f} slices/s)")
    print(f"ratio ICHweb/Orthanc : {ratio:.2f}x  ({'PASS' if ratio >= 1.0 else 'MISS'}, target >= 1.0x)")
    print(f"ratio ICHweb/bare    : {bare / ours:.3f}x  (throughput of the bare loop = 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=286)
    parser.add_argument("--idle-s", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="16 slices, a smoke run")
    args = parser.parse_args()
    n_slices = 16 if args.quick else args.slices

    with tempfile.TemporaryDirectory(prefix="ichweb-bench-") as tmp:
        work = Path(tmp)
        setup_django(work)
        files = make_phantoms(work / "phantoms", n_slices, args.seed)
        print(f"{len(files)} phantom slices in {len({f.parent.parent for f in files})} studies")
        bare_loop(files)  # warm the page cache for every contender
        bare = bare_loop(files)
        ours = ichweb_receive(files, args.idle_s)
        orthanc = orthanc_receive(files, work / "orthanc")
        report(len(files), bare, ours, orthanc, args.idle_s)


if __name__ == "__main__":
    main()
