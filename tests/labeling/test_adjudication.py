"""Adjudication: two discordant reads go to a blinded third reader whose call is final."""

from __future__ import annotations

import json

import pytest

from ichweb.labeling.models import Case, GroundTruth, Read
from tests.labeling.reads_api import put_labels, read_of, read_url, submit

pytestmark = [pytest.mark.django_db, pytest.mark.pg]


def test_adjudication_goes_to_a_blinded_third_reader_whose_call_is_final(
    client, adjudication_project, bob, barbara, erin
):
    for user, codes in ((bob, ["SAH"]), (barbara, [])):
        read = read_of(user, adjudication_project)
        client.force_login(user)
        put_labels(client, read, {"4": codes})
        submit(client, user, read)
    adjudication = Read.objects.get(kind="adjudication")
    assert adjudication.reader == erin and adjudication.case.status == Case.Status.ADJUDICATION
    client.force_login(erin)
    detail = client.get(read_url(adjudication)).json()
    reads = detail["adjudication"]["reads"]
    assert sorted(r["label"] for r in reads) == ["Reader A", "Reader B"]
    assert "bob" not in json.dumps(detail) and "barbara" not in json.dumps(detail)
    assert sorted(json.dumps(r["labels"]) for r in reads) == sorted(['{"4": ["SAH"]}', '{"4": []}'])
    put_labels(client, adjudication, {"4": ["SAH"], "5": ["SAH"]})
    submit(client, erin, adjudication)
    truth = GroundTruth.objects.get(case=adjudication.case)
    assert truth.method == "adjudication" and [u.username for u in truth.contributors.all()] == ["erin"]
    assert {r.slice.index for r in truth.slices.all() if r.codes} == {4, 5}
