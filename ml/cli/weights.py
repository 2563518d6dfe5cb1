"""Command line of ``ml.weights``: fetch the nets' ImageNet weights ahead, or verify a fetched folder.

::

    python -m ml.weights fetch --dest DIR [--arch vgg16 ...]   # <arch>.pth, SHA256SUMS, weights.json
    python -m ml.weights verify DIR [--arch vgg16 ...]         # digests and tensor shapes

Status 0 when done, 1 with ``error:`` or ``FAILED`` lines otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ml.models import ENV_WEIGHTS_DIR, PAPER_ARCHS, PretrainedWeightsError
from ml.weights import DEFAULT_DEST, FETCH_ARCHS, SUMS_FILE, fetch, verify

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    default = os.environ.get(ENV_WEIGHTS_DIR) or str(DEFAULT_DEST)
    p = argparse.ArgumentParser(prog="python -m ml.weights", description="Fetch or verify ImageNet weights.")
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help=f"download the weights into DIR as <arch>.pth with {SUMS_FILE}")
    f.add_argument("--dest", type=Path, default=Path(default), help=f"target folder (default {default})")
    f.add_argument(
        "--arch", action="append", choices=FETCH_ARCHS, help="an arch to fetch (repeatable; default the four)"
    )
    v = sub.add_parser("verify", help=f"check DIR against its {SUMS_FILE} and the archs' tensor shapes")
    v.add_argument("dir", nargs="?", type=Path, default=Path(default), help=f"folder (default {default})")
    v.add_argument("--arch", action="append", choices=FETCH_ARCHS, help="an arch whose file must be there")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 on success, 1 with ``error:``/``FAILED`` lines otherwise."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "fetch":
        try:
            fetch(args.dest, tuple(args.arch or PAPER_ARCHS))
        except (PretrainedWeightsError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"done: set {ENV_WEIGHTS_DIR}={args.dest.resolve()}")
        return 0
    problems = verify(args.dir, tuple(args.arch or ()))
    if problems:
        print(f"{len(problems)} problem(s) in {args.dir}", file=sys.stderr)
        return 1
    print(f"{args.dir}: all files match {SUMS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
