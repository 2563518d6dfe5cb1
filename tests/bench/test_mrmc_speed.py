"""``bench/mrmc_speed.py --quick`` runs to the end: both F statistics agree, and it prints the speed-up and
the bootstrap time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mrmc_speed_quick_agrees_with_the_loop_and_prints_its_figures():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "mrmc_speed.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "same F       : yes" in done.stdout
    assert re.search(r"speed-up     : \d+\.\dx \((PASS|MISS), target 50x\)", done.stdout)
    assert re.search(r"bootstrap    : \d+\.\d ms for 100 resamples", done.stdout)
    assert len(re.findall(r" ms +\d+\.\d{6}", done.stdout)) == 2
