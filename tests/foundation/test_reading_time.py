"""Reading time: what a heartbeat claims, bounded by a cap and by the server's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ichweb.lib.reading_time import HEARTBEAT_MAX_S, bounded_seconds

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("claimed", "since_last_s", "counted"),
    [
        (15, None, 15),  # the first beat: only the cap bounds it
        (500, None, HEARTBEAT_MAX_S),
        (15, 20, 15),
        (15, 5, 5),  # the server's clock says 5 s have passed
        (1000, 0.2, 0.2),  # a forged beat right after another
        (1000, 600, HEARTBEAT_MAX_S),
        (-3, 20, 0),
        (float("nan"), 20, 0),
        (float("inf"), None, 0),
    ],
)
def test_a_beat_counts_at_most_the_cap_and_the_time_since_the_last(claimed, since_last_s, counted):
    last = None if since_last_s is None else NOW - timedelta(seconds=since_last_s)
    assert bounded_seconds(claimed, last, NOW) == pytest.approx(counted)


def test_the_cap_can_be_chosen_and_a_clock_going_back_counts_nothing():
    assert bounded_seconds(50, None, NOW, cap=30) == 30
    assert bounded_seconds(50, NOW + timedelta(seconds=10), NOW) == 0
