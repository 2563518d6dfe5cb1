"""What the command lines share: one way to stop on bad input, to load an input, and to pick the device.

A bad input stops a command with status 2 (as ``argparse`` does for bad usage) and one line on stderr,
``error: <file>: <what is wrong; what to do>``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import torch

from ml.device import default_device

__all__ = ["BUNDLE_MISSING", "device_or_exit", "fail", "load_or_exit"]

T = TypeVar("T")

#: What to do when ``--model`` names nothing.
BUNDLE_MISSING = "pass the model bundle folder that python -m ml.train wrote (OUT/bundle)"


def fail(message: str) -> NoReturn:
    """Stop with status 2 after ``error: <message>`` on stderr, on one line (line breaks become "; ")."""
    one_line = "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
    sys.stderr.write(f"error: {one_line}\n")
    raise SystemExit(2)


def _names(text: str, path: Path) -> bool:
    """Whether ``text`` names ``path`` (alone or as the start of a path below it)."""
    return re.search(rf"(?:^|\s){re.escape(str(path))}(?:$|[\s:;,/)])", text) is not None


def load_or_exit(
    load: Callable[[Path], T],
    path: Path,
    *,
    errors: tuple[type[Exception], ...],
    missing: str | None = None,
) -> T:
    """``load(path)``, or stop with status 2 and one line ``error: <path>: <what is wrong; what to do>``.

    Args:
        load: reads the input, e.g. ``ml.bundle.load_bundle``, ``ml.atlas.load_atlas``,
            ``ml.series.read_series`` or ``ml.data.load_phantom_dataset``.
        path: the file or folder the user passed.
        errors: the exceptions by which ``load`` refuses a bad input; their message says what is wrong
            (and is shown as it is when it names the path already, else after ``<path>:``).
        missing: what to do when ``path`` does not exist, checked before ``load``; None leaves a missing
            path to ``load``'s own message.

    Raises:
        SystemExit: (2) the path is missing or ``load`` raised one of ``errors``.
    """
    if missing is not None and not path.exists():
        fail(f"{path}: not found; {missing}")
    try:
        return load(path)
    except errors as exc:
        text = str(exc)
        fail(text if _names(text, path) else f"{path}: {text}")


def device_or_exit(requested: str | None) -> torch.device:
    """The device of ``--device``: ``requested``, else CUDA when torch sees it, else the CPU.

    The default is ``ml.device.default_device``, the rule of the trainer too.

    Raises:
        SystemExit: (2) ``requested`` is not a torch device, or asks for CUDA where torch sees none.
    """
    try:
        device = default_device(requested)
    except RuntimeError as exc:
        fail(f"--device {requested}: {exc}")
    if device.type == "cuda" and not torch.cuda.is_available():
        fail(f"--device {requested} asked for, but torch sees no CUDA device")
    return device
