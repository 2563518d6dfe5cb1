"""Bootstrap AUC interval speed: ``ml.stats.bootstrap_auc_ci`` vs a loop of sklearn AUCs, same resamples.

    .venv/bin/python bench/stats_speed.py [--cases 400] [--resamples 2000] [--repeats 3] [--seed 0]

The paper's AUC interval (docs/science.md, "Statistics": 2,000 case-level resamples, 2.5/97.5 percentiles)
on a synthetic balanced binormal set with ties (scores rounded to 3 decimals, as stored probabilities are).

- loop: draw the same resample indices (``ml.stats.bootstrap_indices``), call
  ``sklearn.metrics.roc_auc_score`` once per resample (skipping any resample with one class, as ours does),
  take the percentiles.
- ours: ``ml.stats.bootstrap_auc_ci`` (draws the indices and scores every resample at once from case weights).

Printed: the best time of ``--repeats`` of each (same run), both intervals (they must agree to 1e-12: same
resamples, same statistic) and the speed-up (target >= 20x). Exits 1 when the intervals differ.
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

from ml.stats import bootstrap_auc_ci, bootstrap_indices  # noqa: E402

TARGET_SPEEDUP = 20.0


def synthetic_cases(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    scores = 1 / (1 + np.exp(-rng.normal(2.0 * y - 1.0, 1.2)))
    return y, np.round(scores, 3)


def sklearn_loop_ci(y: np.ndarray, s: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    aucs = [
        roc_auc_score(y[rows], s[rows])
        for rows in bootstrap_indices(y, resamples, seed=seed)
        if 0 < y[rows].sum() < rows.size
    ]
    lo, hi = np.quantile(aucs, [0.025, 0.975])
    return float(lo), float(hi)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400, help="number of cases (half positive)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; the best is reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the resamples")
    args = parser.parse_args(argv)

    y, s = synthetic_cases(args.cases, args.seed)
    bootstrap_auc_ci(y, s, n_resamples=10, seed=args.seed)  # warm-up: imports, first allocations

    loop_s, loop_ci = best_of(args.repeats, lambda: sklearn_loop_ci(y, s, args.resamples, args.seed))
    ours_s, ours_ci = best_of(
        args.repeats, lambda: tuple(bootstrap_auc_ci(y, s, n_resamples=args.resamples, seed=args.seed)[1:])
    )
    speedup = loop_s / ours_s
    same = bool(np.allclose(ours_ci, loop_ci, rtol=0, atol=1e-12))

    print(f"bootstrap AUC 95 % CI, {args.cases} cases, {args.resamples} resamples, best of {args.repeats}")
    print(f"  sklearn loop : {loop_s * 1e3:9.1f} ms   CI {loop_ci[0]:.6f}-{loop_ci[1]:.6f}")
    print(f"  ml.stats     : {ours_s * 1e3:9.1f} ms   CI {ours_ci[0]:.6f}-{ours_ci[1]:.6f}")
    print(f"  same interval: {'yes' if same else 'NO'}")
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "MISSES"
    print(f"  speed-up     : {speedup:.1f}x ({verdict} the {TARGET_SPEEDUP:.0f}x target)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
