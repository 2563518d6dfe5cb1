"""Training checkpoints: written atomically every epoch, read back without unpickling objects.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only (``torch.load(weights_only=True)``
reads it), saved to ``<path>.tmp`` and moved over ``path`` with ``os.replace``, so a run killed mid-write
leaves the previous epoch's checkpoint intact.

Example::

    >>> save_checkpoint(path, {"epoch": 3, "model": model.state_dict(), "rng": rng_state()})
    >>> set_rng_state(load_checkpoint(path)["rng"])
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = ["load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state"]


def rng_state() -> dict[str, Any]:
    """The states of python's, numpy's and torch's global generators (CPU and every CUDA device)."""
    # The global RandomState is an MT19937, whose legacy state is this tuple (a dict for other generators).
    legacy = cast(tuple[str, NDArray[np.uint32], int, int, float], np.random.get_state())
    kind, keys, pos, has_gauss, cached = legacy
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured (CUDA states only when CUDA is available)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU, refusing pickled objects (``weights_only=True``)."""
    loaded = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a training checkpoint")
    return loaded
