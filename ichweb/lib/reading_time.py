"""Reading time from the browser's heartbeats: how much of what a beat claims the server counts.

A page sends ``{"seconds": n}`` every 15 s while the reader works (``frontend/src/viewer/heartbeat.ts``).
The claim is the client's word, so the server counts at most ``HEARTBEAT_MAX_S`` per beat and never more
than its own clock says has passed since the previous beat: a forged or replayed beat right after another
adds (almost) nothing. Labeling reads and reader-study case reads count time by this one rule.
"""

from __future__ import annotations

import math
from datetime import datetime

#: A heartbeat adds at most this many seconds of reading time.
HEARTBEAT_MAX_S = 60.0


def bounded_seconds(
    claimed: float, last_beat_at: datetime | None, now: datetime, cap: float = HEARTBEAT_MAX_S
) -> float:
    """The seconds of a heartbeat that count.

    Args:
        claimed: the seconds the client says passed since its last beat.
        last_beat_at: when the server recorded the previous beat of this read (``None`` for the first).
        now: the server's time of this beat.
        cap: the most one beat may add.

    Returns:
        ``claimed`` bounded to ``[0, cap]`` and to the wall time since ``last_beat_at``; 0 for a claim
        that is not a finite number.
    """
    claimed = float(claimed)
    if not math.isfinite(claimed):
        return 0.0
    bound = cap
    if last_beat_at is not None:
        bound = min(bound, (now - last_beat_at).total_seconds())
    return max(0.0, min(claimed, bound))
