"""The one default device of ``ml``: the device asked for, else CUDA when torch sees one, else the CPU."""

from __future__ import annotations

import torch

__all__ = ["default_device"]


def default_device(requested: torch.device | str | None = None) -> torch.device:
    """``requested`` as a ``torch.device``; without one (None or ""), CUDA when torch sees it, else the CPU.

    The trainer (``ml.trainer.RunSettings``) and every command line (``ml.cli.common.device_or_exit``) pick
    their device here. Whether a requested device exists is left to torch (and, on the command line, to
    ``device_or_exit``).
    """
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
