"""Independent reads stay independent: a reader sees nothing of another reader's read or of any model."""

from __future__ import annotations

import json

import pytest

from ichweb.labeling.models import SliceLabel
from tests.labeling.reads_api import put_labels, read_of, read_url

pytestmark = [pytest.mark.django_db, pytest.mark.pg]


def test_a_reader_cannot_open_or_write_another_readers_read(client, consensus_project, bob, barbara):
    theirs = read_of(barbara, consensus_project)
    client.force_login(bob)
    assert client.get(read_url(theirs)).status_code == 404
    assert put_labels(client, theirs, {"0": ["IPH"]}).status_code == 404
    assert SliceLabel.objects.count() == 0


def test_read_detail_carries_nothing_of_other_readers_or_models(client, consensus_project, bob, barbara):
    other = read_of(barbara, consensus_project)
    client.force_login(barbara)
    put_labels(client, other, {"2": ["SDH"]})
    mine = read_of(bob, consensus_project)
    client.force_login(bob)
    detail = client.get(read_url(mine)).json()
    assert detail["labels"] == {} and detail["points"] == [] and detail["adjudication"] is None
    text = json.dumps(detail)
    assert "barbara" not in text and "SDH" not in text.replace('"SDH"', "", 1)  # only in the subtype list
    assert not any(key in text for key in ("probab", "prediction", "attention", "model"))
    assert detail["slices"][0]["hu_url"].endswith("/hu")
