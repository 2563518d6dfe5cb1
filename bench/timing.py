"""What the benchmarks share: the best of a few timed runs (the one least disturbed by other work)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def best_of(repeats: int, fn: Callable[[], T]) -> tuple[float, T]:
    """The shortest wall time of ``repeats`` calls of ``fn`` (seconds) and the last call's result."""
    times = []
    out: T
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out
