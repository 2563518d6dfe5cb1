"""Reading time from heartbeats: accumulated, capped, by the server's clock, never for another's read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ichweb.labeling.models import Read
from ichweb.lib.reading_time import HEARTBEAT_MAX_S
from tests.labeling.reads_api import read_of, read_url

pytestmark = [pytest.mark.django_db, pytest.mark.pg]


def _beat(client, read, seconds, after_s=None):
    """A heartbeat of ``seconds``, ``after_s`` seconds (by the server's clock) after the previous one."""
    if after_s is not None:
        Read.objects.filter(pk=read.pk).update(last_beat_at=timezone.now() - timedelta(seconds=after_s))
    response = client.post(read_url(read, "heartbeat"), {"seconds": seconds}, content_type="application/json")
    assert response.status_code == 204
    read.refresh_from_db()
    return read.reading_seconds


def test_reading_time_accumulates_and_is_capped(client, consensus_project, bob):
    read = read_of(bob, consensus_project)
    client.force_login(bob)
    assert _beat(client, read, 15) == 15
    assert _beat(client, read, 15, after_s=20) == 30
    assert _beat(client, read, 500, after_s=600) == 30 + HEARTBEAT_MAX_S


def test_a_forged_beat_right_after_another_counts_almost_nothing(client, consensus_project, bob):
    read = read_of(bob, consensus_project)
    client.force_login(bob)
    assert _beat(client, read, 15) == 15
    assert 15 <= _beat(client, read, 1000) < 16  # the server's clock: well under a second since the last


def test_a_submitted_or_anothers_read_counts_no_time(client, consensus_project, bob, barbara):
    read = read_of(bob, consensus_project)
    client.force_login(barbara)
    client.post(read_url(read, "heartbeat"), {"seconds": 15}, content_type="application/json")
    read.refresh_from_db()
    assert read.reading_seconds == 0 and read.last_beat_at is None
    Read.objects.filter(pk=read.pk).update(status=Read.Status.SUBMITTED)
    client.force_login(bob)
    assert _beat(client, read, 15) == 0
