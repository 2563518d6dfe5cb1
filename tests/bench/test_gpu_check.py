"""``bench/gpu_check.py --device cpu --quick`` runs to the end, so the GPU check cannot rot unseen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("data", "train", "atlas", "load", "preprocess", "predict", "gradcam", "basis", "case")


@pytest.mark.slow
def test_gpu_check_quick_on_the_cpu_prints_every_stage_and_exits_0():
    env = {**os.environ, "ICHWEB_IMAGENET_DOWNLOAD": "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gpu_check.py"),
            "--device",
            "cpu",
            "--quick",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for stage in STAGES:
        assert f"[{stage}] " in done.stdout, stage
    assert "quick mode" in done.stdout
    assert "applies to one H100/H200 GPU" in done.stdout
    assert "started from random" in done.stdout or "started from ImageNet" in done.stdout
