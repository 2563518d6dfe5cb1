"""MRMC analysis speed: ``ml.mrmc.or_analysis`` (jackknife) vs a jackknife loop of sklearn AUCs, same study.

    .venv/bin/python bench/mrmc_speed.py [--readers 10] [--cases 400] [--resamples 2000] [--repeats 2]
                                         [--seed 0] [--quick]

A synthetic fully crossed study (seeded): 2 treatments x ``--readers`` readers x ``--cases`` cases (one third
diseased), binormal ratings with a shared case effect, rounded to one decimal so that ties occur.

- loop: the Obuchowski-Rockette analysis written plainly -- for each left-out case, for each reader x
  treatment, ``sklearn.metrics.roc_auc_score`` on the other cases; the jackknife covariance; Var, Cov1-Cov3 by
  looping over the pairs; the mean squares; F and Hillis's ddf.
- ours: ``ml.mrmc.or_analysis(readings, covariance="jackknife")`` (all AUCs and placements in one sort, the
  case-deleted AUCs from the placements).

Printed: the best time of ``--repeats`` of each (same run), both F statistics (they must agree to 1e-9),
the speed-up (target >= 50x, PASS/MISS) and the time of ``or_analysis`` with ``--resamples`` bootstrap
resamples. ``--quick``: 3 readers, 40 cases, 100 resamples, one repeat (for the test). Exits 1 when the two
F statistics differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best_of  # noqa: E402  (bench/ is the script folder)

from ml.mrmc import Readings, or_analysis  # noqa: E402

TARGET_SPEEDUP = 50.0


def synthetic_study(readers: int, cases: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(2, readers, cases)`` ratings and ``(cases,)`` truth."""
    rng = np.random.default_rng(seed)
    truth = np.arange(cases) % 3 == 0
    case_effect = rng.normal(size=cases)
    shift = np.array([1.2, 1.35])[:, None, None]
    ratings = shift * truth + 0.7 * case_effect + rng.normal(scale=0.8, size=(2, readers, cases))
    return np.round(ratings, 1), truth


def as_readings(ratings: np.ndarray, truth: np.ndarray) -> Readings:
    t, r, c = ratings.shape
    grid = np.indices((t, r, c)).reshape(3, -1)
    return Readings.from_columns(
        reader=[f"r{j}" for j in grid[1]],
        treatment=[str(i + 1) for i in grid[0]],
        case=[f"c{k}" for k in grid[2]],
        truth=truth[grid[2]].astype(int),
        rating=ratings.ravel(),
    )


def loop_f(ratings: np.ndarray, truth: np.ndarray) -> float:
    """The OR F statistic with jackknife covariances, computed the plain way."""
    t, r, c = ratings.shape
    theta = np.array([[roc_auc_score(truth, ratings[i, j]) for j in range(r)] for i in range(t)])
    deleted = np.empty((t, r, c))
    for k in range(c):
        keep = np.arange(c) != k
        for i in range(t):
            for j in range(r):
                deleted[i, j, k] = roc_auc_score(truth[keep], ratings[i, j, keep])
    sums: dict[str, list[float]] = {"var": [], "cov1": [], "cov2": [], "cov3": []}
    centred = deleted - deleted.mean(axis=2, keepdims=True)
    for i in range(t):
        for j in range(r):
            for i2 in range(t):
                for j2 in range(r):
                    cov = (c - 1) / c * float(np.dot(centred[i, j], centred[i2, j2]))
                    kind = {(True, True): "var", (False, True): "cov1", (True, False): "cov2"}.get(
                        (i == i2, j == j2), "cov3"
                    )
                    sums[kind].append(cov)
    cov2, cov3 = np.mean(sums["cov2"]), np.mean(sums["cov3"])
    grand = theta.mean()
    ms_t = r * np.sum((theta.mean(axis=1) - grand) ** 2) / (t - 1)
    resid = theta - theta.mean(axis=1, keepdims=True) - theta.mean(axis=0, keepdims=True) + grand
    ms_tr = np.sum(resid**2) / ((t - 1) * (r - 1))
    return float(ms_t / (ms_tr + r * max(cov2 - cov3, 0.0)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10, help="readers (2 treatments)")
    parser.add_argument("--cases", type=int, default=400, help="cases (one third diseased)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each; the best is reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic study")
    parser.add_argument("--quick", action="store_true", help="3 readers, 40 cases, 100 resamples, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.readers, args.cases, args.resamples, args.repeats = 3, 40, 100, 1

    ratings, truth = synthetic_study(args.readers, args.cases, args.seed)
    readings = as_readings(ratings, truth)
    or_analysis(readings)  # warm-up: imports, first allocations

    loop_s, loop = best_of(args.repeats, lambda: loop_f(ratings, truth))
    ours_s, ours = best_of(args.repeats, lambda: or_analysis(readings).global_test.value)
    boot_s, _ = best_of(
        args.repeats,
        lambda: or_analysis(readings, covariance="bootstrap", n_boot=args.resamples, seed=args.seed),
    )
    speedup = loop_s / ours_s
    same = bool(np.isclose(ours, loop, rtol=1e-9, atol=0))

    print(f"OR analysis, jackknife covariances: 2 treatments x {args.readers} readers x {args.cases} cases")
    print(f"  {'':<24}{'time':>12}{'F':>14}")
    print(f"  {'sklearn jackknife loop':<24}{loop_s * 1e3:>9.1f} ms{loop:>14.6f}")
    print(f"  {'ml.mrmc.or_analysis':<24}{ours_s * 1e3:>9.1f} ms{ours:>14.6f}")
    print(f"  same F       : {'yes' if same else 'NO'}")
    verdict = "PASS" if speedup >= TARGET_SPEEDUP else "MISS"
    print(f"  speed-up     : {speedup:.1f}x ({verdict}, target {TARGET_SPEEDUP:.0f}x)")
    print(
        f"  bootstrap    : {boot_s * 1e3:.1f} ms for {args.resamples} resamples "
        "(or_analysis, covariance=bootstrap)"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
