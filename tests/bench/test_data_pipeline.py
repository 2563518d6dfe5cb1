"""``bench/data_pipeline.py --quick`` runs to the end and prints its figures for both input sizes and both
paths (today's, and the device path of ``Recipe.device_preprocess``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_data_pipeline_quick_prints_rates_workers_and_where_the_time_goes_for_both_paths():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "data_pipeline.py"), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for size in (224, 299):
        assert f"{size} px" in done.stdout
    assert len(re.findall(r"num_workers=0\): +\d+\.\d images/s", done.stdout)) == 4
    assert len(re.findall(r"workers for 3,000 images/s: \d+ +\((PASS|MISS)", done.stdout)) == 4
    assert done.stdout.count("today's path (float work in the workers):") == 2
    assert done.stdout.count("device path (workers read int16 HU") == 2
    assert len(re.findall(r"device side on .+: +\d+\.\d images/s", done.stdout)) == 2
    # The two paths build the same batch (on a CPU to the last bit; tests/ml/test_device_pipeline.py).
    for worst in re.findall(r"max \|difference\| (\S+)", done.stdout):
        assert float(worst) <= 1e-4
    for stage in ("read", "window", "interpolate", "resize+normalise", "augment"):
        assert f"{stage} " in done.stdout
