"""``ml.stats``'s AUC intervals and DeLong's test against R's pROC, the reference implementation.

Runs in the services pass (``make test-services``), whose machine has R: the Debian packages ``r-base-core``
and ``r-cran-proc``. Without them these tests fail, naming the packages, rather than skip silently.

Each dataset goes to pROC as a CSV; ``roc(levels = c(0, 1), direction = "<")`` fixes the orientation as
ours (pROC's default ``direction = "auto"`` would flip a worse-than-chance model). Tolerances:

* AUC: 1e-12 (the same Mann-Whitney sum).
* DeLong interval, SE and the paired test's z: 1e-9 absolute; its p-value 1e-6 relative. Both sides compute
  the same midrank placements; what is left is rounding and the normal quantile (observed: ~3e-15).
* Bootstrap percentile interval: a Monte-Carlo tolerance, since R and numpy draw different resamples.
  Each bound of a 2,000-resample interval varies from seed to seed with an SD of about 0.0016 for the
  n = 200 sets and 0.0066 for the n = 60 set (measured over 30 seeds of ours; ~``sqrt(0.025 * 0.975 / B) /
  f(q)``, f the density of the bootstrap AUCs at the quantile), so the difference of two independent runs has
  an SD of ~0.0023 and ~0.0093: |diff| <= 0.01 for n = 200 and 0.04 for n = 60 (about 4.3 SD). Both sides
  use fixed seeds, so a given R and numpy always give the same verdict.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ml.stats import bootstrap_auc_ci, delong_ci, delong_test, roc_auc

pytestmark = pytest.mark.services

INSTALL = (
    "install the Debian packages r-base-core and r-cran-proc (apt-get install -y r-base-core r-cran-proc)"
)

R_SCRIPT = r"""
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
set.seed(as.integer(args[2]))
r1 <- roc(d$y, d$s1, levels = c(0, 1), direction = "<", quiet = TRUE)
r2 <- roc(d$y, d$s2, levels = c(0, 1), direction = "<", quiet = TRUE)
out <- function(name, v) cat(name, sprintf("%.17g", as.numeric(v)), "\n")
out("auc1", auc(r1))
out("auc2", auc(r2))
out("delong1", ci.auc(r1, method = "delong"))
out("delong2", ci.auc(r2, method = "delong"))
out("var1", var(r1, method = "delong"))
test <- roc.test(r1, r2, method = "delong", paired = TRUE)
out("test", c(test$statistic, test$p.value))
boot <- function(stratified) {
  ci.auc(r1, method = "bootstrap", boot.n = 2000, boot.stratified = stratified, progress = "none")
}
out("boot_stratified", boot(TRUE))
out("boot_plain", boot(FALSE))
"""


def _dataset(seed: int, n: int, prevalence: float, decimals: int | None) -> dict[str, np.ndarray]:
    """Binormal scores of two correlated models; ``decimals`` rounds them into ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    y[:2] = (1, 0)
    s1 = rng.normal(1.2 * y, 1.0)
    s2 = 0.7 * s1 + rng.normal(0.3 * y, 0.8)
    if decimals is not None:
        s1, s2 = np.round(s1, decimals), np.round(s2, decimals)
    return {"y": y, "s1": s1, "s2": s2}


DATASETS = {
    "continuous-200": (_dataset(0, 200, 0.5, None), 0.01),
    "ties-200": (_dataset(1, 200, 0.3, 1), 0.01),
    "ties-unbalanced-60": (_dataset(2, 60, 0.2, 2), 0.04),
}


@pytest.fixture(scope="module")
def rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        pytest.fail(f"Rscript not found: {INSTALL}")
    check = subprocess.run([path, "-e", "library(pROC)"], capture_output=True, text=True, timeout=60)
    if check.returncode != 0:
        pytest.fail(f"R cannot load pROC ({check.stderr.strip()[-200:]}): {INSTALL}")
    return path


@pytest.fixture(scope="module")
def proc_results(rscript: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("proc")
    script = folder / "reference.R"
    script.write_text(R_SCRIPT)
    return {
        name: _run_proc(rscript, script, folder / f"{name}.csv", data) for name, (data, _) in DATASETS.items()
    }


def _run_proc(rscript: str, script: Path, csv: Path, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    table = np.column_stack([data["y"], data["s1"], data["s2"]])
    np.savetxt(csv, table, fmt=["%d", "%.17g", "%.17g"], delimiter=",", header="y,s1,s2", comments="")
    run = subprocess.run([rscript, str(script), str(csv), "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return {
        line.split()[0]: np.array(line.split()[1:], dtype=float) for line in run.stdout.splitlines() if line
    }


@pytest.mark.parametrize("name", DATASETS)
def test_auc_and_delong_interval_match_proc(
    proc_results: dict[str, dict[str, np.ndarray]], name: str
) -> None:
    data, _ = DATASETS[name]
    ref = proc_results[name]
    for model in ("1", "2"):
        scores = data[f"s{model}"]
        assert roc_auc(data["y"], scores) == pytest.approx(ref[f"auc{model}"][0], abs=1e-12)
        # pROC's ci.auc gives (lower, AUC, upper).
        lower, auc, upper = ref[f"delong{model}"]
        ours = delong_ci(data["y"], scores)
        assert (ours.lo, ours.auc, ours.hi) == pytest.approx((lower, auc, upper), abs=1e-9)
    assert delong_ci(data["y"], data["s1"]).se ** 2 == pytest.approx(ref["var1"][0], abs=1e-9)


@pytest.mark.parametrize("name", DATASETS)
def test_paired_delong_test_matches_proc(proc_results: dict[str, dict[str, np.ndarray]], name: str) -> None:
    data, _ = DATASETS[name]
    z, p = proc_results[name]["test"]
    ours = delong_test(data["y"], data["s1"], data["s2"])
    assert ours.z == pytest.approx(z, abs=1e-9)
    assert ours.p == pytest.approx(p, rel=1e-6)


@pytest.mark.parametrize("stratified", [True, False])
@pytest.mark.parametrize("name", DATASETS)
def test_bootstrap_interval_within_monte_carlo_tolerance_of_proc(
    proc_results: dict[str, dict[str, np.ndarray]], name: str, stratified: bool
) -> None:
    data, tolerance = DATASETS[name]
    lower, _, upper = proc_results[name]["boot_stratified" if stratified else "boot_plain"]
    ours = bootstrap_auc_ci(data["y"], data["s1"], n_resamples=2000, seed=0, stratified=stratified)
    assert abs(ours.lo - lower) <= tolerance, (ours, lower, upper)
    assert abs(ours.hi - upper) <= tolerance, (ours, lower, upper)
