"""``bench/ml_phantom.py --quick`` runs to the end: every ablation step trains and is tested, and the script
prints the ablation, the paired intervals, the learning curve, Lewicki's Table III, the localisation check,
the atlas and a PASS/MISS line per target (figures of a 14-case smoke run, so only their form is checked)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ml_phantom_quick_prints_every_section_and_a_line_per_target(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "ml_phantom.py"), "--quick", "--quiet"),
            *("--steps", "M1,M2,M3,M4", "--out", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for step in ("M1", "M2", "M3", "M4"):
        assert re.search(rf"^{step}\*? +\d\.\d{{3}} ", out, re.M), f"no ablation row for {step}"
        assert re.search(rf"^{step} +\d\.\d{{3}} \[", out, re.M), f"no interval row for {step}"
    assert "Paired bootstrap" in out and "Learning curve" in out
    assert "learned ANY output" in out and "OR of 5 subtypes" in out
    assert re.search(r"points in the 20 % segmentation: \d+/\d+", out)
    assert re.search(r"atlas: \d+ entries", out)
    targets = re.findall(r"^  (PASS|MISS)  ", out, re.M)
    assert len(targets) == 7, out
    table = json.loads(next(tmp_path.glob("ml_phantom-*.json")).read_text())
    assert [row["step"] for row in table["rows"]] == ["M1", "M2", "M3", "M4"]
    assert table["split"] == {"train": 8, "val": 3, "test": 3}
