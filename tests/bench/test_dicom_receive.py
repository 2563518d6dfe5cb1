"""``bench/dicom_receive.py --quick`` runs to the end: ICHweb's listener and Orthanc both receive the slices,
and it prints both throughputs and the ratios."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dicom_receive_quick_prints_both_throughputs_and_the_ratios():
    require_tool("storescu", "dcmtk")
    require_tool("/usr/sbin/Orthanc", "orthanc")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dicom_receive.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "16 phantom slices in 1 studies" in done.stdout
    for name in ("bare pydicom loop", "ICHweb listener", "Orthanc"):
        assert re.search(rf"{name} +: +\d+\.\d\d s  \( *\d+ slices/s", done.stdout), name
    assert re.search(r"ratio ICHweb/Orthanc : \d+\.\d\dx  \((PASS|MISS), target >= 1\.0x\)", done.stdout)
    assert re.search(r"ratio ICHweb/bare    : \d+\.\d{3}x", done.stdout)
