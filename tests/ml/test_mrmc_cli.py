"""``python -m ml.mrmc``: the report, the JSON, and one line with status 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml.mrmc.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
VAN_DYKE = ROOT / "tests" / "data" / "vandyke-mrmc.csv"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main([str(VAN_DYKE), *args]) == 0
    return capsys.readouterr().out


def test_the_report_shows_aucs_components_test_and_differences(capsys):
    out = run(capsys)
    for text in (
        "0.8970",
        "0.9408",
        "MS(T) 0.004796",
        "Cov2 0.000344",
        "F = 4.4563, df = 1 and 15.26, p = 0.0517",
    ):
        assert text in out
    assert "1 - 2           -0.04380  -0.08796   0.00036    15.26   0.0517" in out


def test_the_json_has_the_documented_keys_and_the_comparison_name(capsys):
    out = json.loads(run(capsys, "--json"))
    assert {"aucs", "global", "differences", "variance_components", "modalities", "settings"} <= out.keys()
    assert out["differences"][0]["comparison"] == "1 - 2"
    assert out["global"]["F"] == pytest.approx(4.456, abs=5e-4)
    assert out["settings"]["covariance"] == "jackknife"


def test_json_with_options_and_sizing(capsys):
    options = ["--covariance", "bootstrap", "--n-boot", "200", "--seed", "3", "--readers", "fixed"]
    out = json.loads(run(capsys, "--json", *options, "--effect", "0.05", "--plan-readers", "10"))
    assert "chi2" in out["global"] and out["settings"]["n_boot"] == 200 and out["settings"]["seed"] == 3
    assert out["sizing"]["plans"][0]["readers"] == 10 and out["sizing"]["plans"][0]["power"] >= 0.8


def test_model_versus_readers_from_the_command_line(capsys):
    out = json.loads(run(capsys, "--json", "--model", "4", "--treatment", "2"))
    assert out["comparison"] == "readers - 4" and out["model_value"] == pytest.approx(0.99936, abs=1e-5)


def test_bad_input_stops_with_status_2_and_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("reader,treatment,case,truth\n1,1,a,1\n")
    done = subprocess.run(
        [sys.executable, "-m", "ml.mrmc", str(bad)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: {bad}: missing column(s) 'rating'")
