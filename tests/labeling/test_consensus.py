"""Consensus: concordant reads become ground truth; discordant ones go to the lead, readers pseudonymised."""

from __future__ import annotations

import pytest

from ichweb.labeling.models import Case, GroundTruth
from tests.labeling.reads_api import put_labels, read_of, submit

pytestmark = [pytest.mark.django_db, pytest.mark.pg]


def test_concordant_reads_become_consensus_ground_truth(client, consensus_project, bob, barbara):
    for user in (bob, barbara):
        read = read_of(user, consensus_project)
        client.force_login(user)
        put_labels(client, read, {"2": ["SDH"], "3": ["SDH"]})
        submit(client, user, read)
    case = read_of(bob, consensus_project).case
    case.refresh_from_db()
    truth = GroundTruth.objects.get(case=case)
    assert case.status == Case.Status.DONE and truth.method == "consensus"
    assert {u.username for u in truth.contributors.all()} == {"bob", "barbara"}
    positive = {row.slice.index for row in truth.slices.all() if row.codes}
    assert positive == {2, 3}


def test_discordant_reads_go_to_the_lead_for_consensus(client, consensus_project, alice, bob, barbara):
    for user, codes in ((bob, ["SDH"]), (barbara, ["EDH"])):
        read = read_of(user, consensus_project)
        client.force_login(user)
        put_labels(client, read, {"2": codes})
        submit(client, user, read)
    case = read_of(bob, consensus_project).case
    case.refresh_from_db()
    assert case.status == Case.Status.CONSENSUS
    client.force_login(bob)
    assert (
        client.get(f"/api/v1/labeling/projects/{consensus_project.pk}/cases/{case.pk}/consensus").status_code
        == 403
    )
    client.force_login(alice)
    url = f"/api/v1/labeling/projects/{consensus_project.pk}/cases/{case.pk}/consensus"
    view = client.get(url).json()
    assert view["discordant_slices"] == [2]
    assert {r["reader"] for r in view["reads"]} == {"Reader A", "Reader B"}  # identities hidden by default
    done = client.post(url, {"slices": {"2": ["SDH"]}}, content_type="application/json")
    assert done.status_code == 200
    truth = GroundTruth.objects.get(case=case)
    assert truth.method == "consensus" and truth.slices.get(slice__index=2).codes == ["SDH"]
    assert "alice" in {u.username for u in truth.contributors.all()}
