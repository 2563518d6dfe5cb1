"""``python -m ml.mrmc FILE.csv``: the OR analysis of a reader study, as a report or JSON (docs/mrmc.md,
"Command line").

    python -m ml.mrmc FILE.csv [--covariance jackknife|delong|bootstrap] [--readers random|fixed]
                               [--cases random|fixed] [--fom auc|sensitivity|specificity --threshold T]
                               [--n-boot N] [--seed S] [--level 0.95] [--json]
                               [--model READER [--treatment T]]
                               [--effect D [--plan-readers R ...] [--target 0.8] [--alpha 0.05]]

FILE.csv has the columns ``reader, treatment, case, truth, rating`` (others ignored). ``--model`` compares
that reader (a model's ratings) with the other readers in one treatment instead of comparing treatments.
``--effect`` adds the power of a study like this one and the cases needed with each ``--plan-readers`` to
detect a difference ``D`` (from this table as the pilot). Bad input stops with status 2 and one line
``error: ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from ml.mrmc.analysis import or_analysis
from ml.mrmc.covariance import COVARIANCE_METHODS
from ml.mrmc.fom import FIGURES_OF_MERIT
from ml.mrmc.power import PilotComponents, cases_for_power, power
from ml.mrmc.readings import MRMCInputError, read_readings
from ml.mrmc.report import format_comparison, format_result
from ml.mrmc.standalone import model_vs_readers


def _fail(message: str) -> NoReturn:
    # Imported here: ml.cli.common loads torch, which the analysis itself never needs.
    from ml.cli.common import fail

    fail(message)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.mrmc", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="CSV with the columns reader, treatment, case, truth, rating")
    parser.add_argument("--covariance", choices=COVARIANCE_METHODS, default="jackknife")
    parser.add_argument("--readers", choices=("random", "fixed"), default="random")
    parser.add_argument("--cases", choices=("random", "fixed"), default="random")
    parser.add_argument("--fom", choices=FIGURES_OF_MERIT, default="auc", help="figure of merit")
    parser.add_argument("--threshold", type=float, help="rating >= threshold is a positive call (sens/spec)")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--model", help="compare this reader (a model) with the other readers")
    parser.add_argument("--treatment", help="with --model: the treatment to compare in")
    parser.add_argument("--effect", type=float, help="difference to detect in a planned study (sizing)")
    parser.add_argument("--plan-readers", type=int, nargs="+", default=[], help="readers of planned studies")
    parser.add_argument("--target", type=float, default=0.8, help="target power of the sizing")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the sizing")
    return parser


def _sizing(args: argparse.Namespace, result: Any) -> dict[str, Any]:
    pilot = PilotComponents.from_result(result)
    readers, cases = result.theta.shape[1], result.settings.n_cases
    effect = args.readers
    now = power(pilot, args.effect, readers, cases, alpha=args.alpha, reader_effect=effect)
    plans = []
    for n in args.plan_readers:
        found = cases_for_power(
            pilot, args.effect, n, target=args.target, alpha=args.alpha, reader_effect=effect
        )
        plans.append({"readers": n, "cases": found.cases, "power": found.power, "df2": found.df2})
    return {
        "effect": args.effect,
        "alpha": args.alpha,
        "target": args.target,
        "power_as_pilot": {"readers": readers, "cases": cases, "power": now.power, "df2": now.df2},
        "plans": plans,
    }


def _sizing_text(sizing: dict[str, Any]) -> str:
    now = sizing["power_as_pilot"]
    lines = [
        "",
        f"Sizing (effect {sizing['effect']:g}, alpha {sizing['alpha']:g})",
        f"  power with {now['readers']} readers and {now['cases']} cases: {now['power']:.3f}",
    ]
    for plan in sizing["plans"]:
        lines.append(
            f"  {plan['readers']} readers: {plan['cases']} cases for power {sizing['target']:g} "
            f"(power {plan['power']:.3f})"
        )
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> str:
    readings = read_readings(args.file)
    options = dict(
        covariance=args.covariance, readers=args.readers, cases=args.cases, fom=args.fom,
        threshold=args.threshold, n_boot=args.n_boot, seed=args.seed, level=args.level,
    )  # fmt: skip
    if args.model is not None:
        comparison = model_vs_readers(readings, args.model, treatment=args.treatment, **options)
        if args.json:
            return json.dumps(comparison.to_dict(), indent=2)
        return format_comparison(comparison, str(args.file))
    result = or_analysis(readings, **options)
    sizing = _sizing(args, result) if args.effect is not None else None
    if args.json:
        out = result.to_dict()
        if sizing is not None:
            out["sizing"] = sizing
        return json.dumps(out, indent=2)
    return format_result(result, str(args.file)) + ("\n" + _sizing_text(sizing) if sizing else "")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0), or stops with status 2 on bad input."""
    args = _parser().parse_args(argv)
    if args.effect is None and args.plan_readers:
        _fail("--plan-readers needs --effect (the difference the planned study should detect)")
    if args.effect is not None and args.model is not None:
        _fail("--effect sizes a comparison of treatments; leave out --model")
    try:
        text = _run(args)
    except MRMCInputError as exc:
        message = str(exc)
        _fail(message if str(args.file) in message else f"{args.file}: {message}")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
