"""Ingest throughput: our import of N phantom slices vs a bare pydicom loop over the same files.

    .venv/bin/python bench/ingest.py --slices 600 [--repeats 3]

The baseline is ``pydicom.dcmread(path).pixel_array`` for every file, in the same run, on the same (warm)
files. Ours is the whole ingest service: read and check, HU conversion, de-identification, writing the
de-identified originals and the HU volume, and the database rows (SQLite in a temporary folder). Target: ours
<= 1.4x the bare loop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_phantoms(out: Path, n_slices: int, seed: int) -> list[Path]:
    from ml.phantom import PhantomConfig, generate_dataset

    config = PhantomConfig(seed=seed, slices_min=30, slices_max=30)
    generate_dataset(config, out, n_cases=max(1, round(n_slices / 30)), progress=True)
    return sorted(out.rglob("*.dcm"))


def bare_loop(files: list[Path]) -> float:
    import pydicom

    started = time.perf_counter()
    for path in files:
        pydicom.dcmread(path).pixel_array  # noqa: B018
    return time.perf_counter() - started


def ours(folder: Path, n_files: int) -> float:
    from django.core.management import call_command

    from ichweb.imaging.ingest import import_items
    from ichweb.imaging.models import Study

    call_command("flush", "--noinput", verbosity=0)
    media = Path(os.environ["MEDIA_ROOT"])
    for child in media.glob("*"):
        import shutil

        shutil.rmtree(child)
    started = time.perf_counter()
    result = import_items([(folder.name, folder)])
    elapsed = time.perf_counter() - started
    assert result.n_accepted == n_files, [r for r in result.report if r["status"] != "accepted"][:3]
    assert Study.objects.count() > 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ichweb-bench-") as tmp:
        work = Path(tmp)
        os.environ.update(
            {
                "ICHWEB_VAR_DIR": str(work / "var"),
                "MEDIA_ROOT": str(work / "media"),
                "DJANGO_SETTINGS_MODULE": "ichweb.settings",
            }
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        folder = work / "phantoms"
        files = make_phantoms(folder, args.slices, args.seed)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(files)} phantom slices ({size_mb:.0f} MB) in {folder}")
        bare_loop(files)  # warm the page cache for both contenders
        bare, mine = [], []
        for i in range(args.repeats):
            bare.append(bare_loop(files))
            mine.append(ours(folder, len(files)))
            print(f"  run {i + 1}: bare {bare[-1]:.2f} s, ours {mine[-1]:.2f} s")
        b, m = statistics.median(bare), statistics.median(mine)
        print(f"bare pydicom loop : {b:.2f} s  ({len(files) / b:.0f} slices/s)")
        print(f"ICHweb ingest     : {m:.2f} s  ({len(files) / m:.0f} slices/s)")
        print(f"ratio ours/bare   : {m / b:.2f}x  (target <= 1.4x)")


if __name__ == "__main__":
    main()
