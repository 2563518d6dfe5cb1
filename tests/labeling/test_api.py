"""Labeling rules through the API: queues, blinding, versions, bad input, audit, routing, export/import."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from ichweb.analytics.services import labeling_progress
from ichweb.labeling import services
from ichweb.labeling.models import AuditEvent, BleedingPoint, Case, GroundTruth, Read, SliceLabel
from ichweb.lib.reading_time import HEARTBEAT_MAX_S

pytestmark = [pytest.mark.django_db, pytest.mark.pg]


def _read(user, project):
    return Read.objects.filter(reader=user, case__project=project).order_by("case__position").first()


def _url(read, suffix=""):
    return f"/api/v1/labeling/reads/{read.pk}/{suffix}"


def _put_labels(client, read, slices, version=None):
    version = read.version if version is None else version
    return client.put(
        _url(read, "labels"), {"version": version, "slices": slices}, content_type="application/json"
    )


def _submit(client, user, read):
    client.force_login(user)
    read.refresh_from_db()
    return client.post(_url(read, "submit"), {"version": read.version}, content_type="application/json")


def test_reads_are_balanced_and_each_reader_sees_only_their_queue(client, consensus_project, bob, barbara):
    assert Read.objects.filter(reader=bob).count() == Read.objects.filter(reader=barbara).count() == 2
    client.force_login(bob)
    body = client.get("/api/v1/labeling/reads/").json()
    assert body["count"] == 2 and {r["kind"] for r in body["results"]} == {"primary"}
    page = client.get("/labeling/")
    assert page.status_code == 200 and "0 / 2" in page.text


def test_a_reader_cannot_open_or_write_another_readers_read(client, consensus_project, bob, barbara):
    theirs = _read(barbara, consensus_project)
    client.force_login(bob)
    assert client.get(_url(theirs)).status_code == 404
    assert _put_labels(client, theirs, {"0": ["IPH"]}).status_code == 404
    assert SliceLabel.objects.count() == 0


def test_read_detail_carries_nothing_of_other_readers_or_models(client, consensus_project, bob, barbara):
    other = _read(barbara, consensus_project)
    client.force_login(barbara)
    _put_labels(client, other, {"2": ["SDH"]})
    mine = _read(bob, consensus_project)
    client.force_login(bob)
    detail = client.get(_url(mine)).json()
    assert detail["labels"] == {} and detail["points"] == [] and detail["adjudication"] is None
    text = json.dumps(detail)
    assert "barbara" not in text and "SDH" not in text.replace('"SDH"', "", 1)  # only in the subtype list
    assert not any(key in text for key in ("probab", "prediction", "attention", "model"))
    assert detail["slices"][0]["hu_url"].endswith("/hu")


def test_labels_autosave_with_versions_range_writes_and_audit(client, consensus_project, bob):
    read = _read(bob, consensus_project)
    client.force_login(bob)
    response = _put_labels(client, read, {"3": ["IPH", "SAH"], "4": ["IPH"], "5": []})
    assert response.status_code == 200 and response.json() == {"version": 1}
    detail = client.get(_url(read)).json()
    assert detail["labels"] == {"3": ["IPH", "SAH"], "4": ["IPH"], "5": []}
    assert detail["status"] == "in_progress"
    _put_labels(client, read, {"4": ["IVH"]}, version=1)
    events = list(AuditEvent.objects.filter(read=read, slice_index=4).values_list("before", "after"))
    assert events == [(None, ["IPH"]), (["IPH"], ["IVH"])]


def test_a_stale_write_gets_409_and_changes_nothing(client, consensus_project, bob):
    read = _read(bob, consensus_project)
    client.force_login(bob)
    _put_labels(client, read, {"0": ["IPH"]}, version=0)
    stale = _put_labels(client, read, {"0": ["EDH"]}, version=0)
    assert (
        stale.status_code == 409 and stale.json()["version"] == 1 and "another tab" in stale.json()["detail"]
    )
    assert client.get(_url(read)).json()["labels"] == {"0": ["IPH"]}


@pytest.mark.parametrize(
    ("slices", "field", "text"),
    [
        ({"99": ["IPH"]}, "slices", "outside this case"),
        ({"1": ["XYZ"]}, "slices.1", "unknown subtype code(s) XYZ"),
        ({"a": ["IPH"]}, "slices", "not a number"),
    ],
)
def test_bad_labels_are_refused_with_the_field_and_nothing_stored(
    client, consensus_project, bob, slices, field, text
):
    read = _read(bob, consensus_project)
    client.force_login(bob)
    response = _put_labels(client, read, slices)
    assert response.status_code == 400 and text in response.json()[field][0]
    assert SliceLabel.objects.count() == 0 and Read.objects.get(pk=read.pk).version == 0


def test_bleeding_points_add_move_delete_and_bounds(client, consensus_project, bob):
    read = _read(bob, consensus_project)
    client.force_login(bob)
    add = client.post(
        _url(read, "points"),
        {"version": 0, "slice_index": 3, "x": 30.5, "y": 20, "subtype": "IPH"},
        content_type="application/json",
    )
    assert add.status_code == 201
    point = add.json()["point"]
    assert point["slice_index"] == 3 and point["x"] == 30.5 and point["subtype"] == "IPH"
    outside = client.post(
        _url(read, "points"),
        {"version": 1, "slice_index": 3, "x": 64, "y": 1},
        content_type="application/json",
    )
    assert outside.status_code == 400 and "outside the image" in outside.json()["x"][0]
    moved = client.patch(
        _url(read, f"points/{point['id']}"), {"version": 1, "x": 10, "y": 11}, content_type="application/json"
    )
    assert moved.status_code == 200 and moved.json()["point"]["x"] == 10.0
    assert client.delete(_url(read, f"points/{point['id']}") + "?version=2").json() == {"version": 3}
    assert BleedingPoint.objects.count() == 0
    actions = list(AuditEvent.objects.filter(read=read).values_list("action", flat=True))
    assert actions == ["point_add", "point_move", "point_delete"]


def test_exclusion_reasons_are_checked(client, consensus_project, bob):
    read = _read(bob, consensus_project)
    client.force_login(bob)
    bad = client.post(
        _url(read, "exclude"), {"version": 0, "reason": "boredom"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "unknown exclusion reason" in bad.json()["reason"][0]
    ok = client.post(
        _url(read, "exclude"),
        {"version": 0, "reason": "surgery", "note": "craniotomy"},
        content_type="application/json",
    )
    assert ok.status_code == 200
    detail = client.get(_url(read)).json()
    assert detail["excluded"] is True and detail["exclusion_reason"] == "surgery"


def test_submitted_reads_are_read_only(client, consensus_project, bob):
    read = _read(bob, consensus_project)
    assert _submit(client, bob, read).json()["status"] == "submitted"
    response = _put_labels(client, read, {"0": ["IPH"]}, version=1)
    assert response.status_code == 409 and "submitted" in response.json()["detail"]


def test_concordant_reads_become_consensus_ground_truth(client, consensus_project, bob, barbara):
    for user in (bob, barbara):
        read = _read(user, consensus_project)
        client.force_login(user)
        _put_labels(client, read, {"2": ["SDH"], "3": ["SDH"]})
        _submit(client, user, read)
    case = _read(bob, consensus_project).case
    case.refresh_from_db()
    truth = GroundTruth.objects.get(case=case)
    assert case.status == Case.Status.DONE and truth.method == "consensus"
    assert {u.username for u in truth.contributors.all()} == {"bob", "barbara"}
    positive = {row.slice.index for row in truth.slices.all() if row.codes}
    assert positive == {2, 3}


def test_discordant_reads_go_to_the_lead_for_consensus(client, consensus_project, alice, bob, barbara):
    for user, codes in ((bob, ["SDH"]), (barbara, ["EDH"])):
        read = _read(user, consensus_project)
        client.force_login(user)
        _put_labels(client, read, {"2": codes})
        _submit(client, user, read)
    case = _read(bob, consensus_project).case
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


def test_adjudication_goes_to_a_blinded_third_reader_whose_call_is_final(
    client, adjudication_project, bob, barbara, erin
):
    for user, codes in ((bob, ["SAH"]), (barbara, [])):
        read = _read(user, adjudication_project)
        client.force_login(user)
        _put_labels(client, read, {"4": codes})
        _submit(client, user, read)
    adjudication = Read.objects.get(kind="adjudication")
    assert adjudication.reader == erin and adjudication.case.status == Case.Status.ADJUDICATION
    client.force_login(erin)
    detail = client.get(_url(adjudication)).json()
    reads = detail["adjudication"]["reads"]
    assert sorted(r["label"] for r in reads) == ["Reader A", "Reader B"]
    assert "bob" not in json.dumps(detail) and "barbara" not in json.dumps(detail)
    assert sorted(json.dumps(r["labels"]) for r in reads) == sorted(['{"4": ["SAH"]}', '{"4": []}'])
    _put_labels(client, adjudication, {"4": ["SAH"], "5": ["SAH"]})
    _submit(client, erin, adjudication)
    truth = GroundTruth.objects.get(case=adjudication.case)
    assert truth.method == "adjudication" and [u.username for u in truth.contributors.all()] == ["erin"]
    assert {r.slice.index for r in truth.slices.all() if r.codes} == {4, 5}


def _beat(client, read, seconds, after_s=None):
    """A heartbeat of ``seconds``, ``after_s`` seconds (by the server's clock) after the previous one."""
    if after_s is not None:
        Read.objects.filter(pk=read.pk).update(last_beat_at=timezone.now() - timedelta(seconds=after_s))
    response = client.post(_url(read, "heartbeat"), {"seconds": seconds}, content_type="application/json")
    assert response.status_code == 204
    read.refresh_from_db()
    return read.reading_seconds


def test_reading_time_accumulates_and_is_capped(client, consensus_project, bob):
    read = _read(bob, consensus_project)
    client.force_login(bob)
    assert _beat(client, read, 15) == 15
    assert _beat(client, read, 15, after_s=20) == 30
    assert _beat(client, read, 500, after_s=600) == 30 + HEARTBEAT_MAX_S


def test_a_forged_beat_right_after_another_counts_almost_nothing(client, consensus_project, bob):
    read = _read(bob, consensus_project)
    client.force_login(bob)
    assert _beat(client, read, 15) == 15
    assert 15 <= _beat(client, read, 1000) < 16  # the server's clock: well under a second since the last


def test_a_submitted_or_anothers_read_counts_no_time(client, consensus_project, bob, barbara):
    read = _read(bob, consensus_project)
    client.force_login(barbara)
    client.post(_url(read, "heartbeat"), {"seconds": 15}, content_type="application/json")
    read.refresh_from_db()
    assert read.reading_seconds == 0 and read.last_beat_at is None
    Read.objects.filter(pk=read.pk).update(status=Read.Status.SUBMITTED)
    client.force_login(bob)
    assert _beat(client, read, 15) == 0


def test_reader_progress_is_one_count_for_the_project_page_and_the_dashboard(
    client, consensus_project, alice, bob, barbara
):
    _submit(client, bob, _read(bob, consensus_project))
    client.force_login(barbara)
    _put_labels(client, _read(barbara, consensus_project), {"1": ["IVH"]})
    assert services.reader_progress(consensus_project) == {
        "bob": {"assigned": 2, "submitted": 1, "in_progress": 0},
        "barbara": {"assigned": 2, "submitted": 0, "in_progress": 1},
    }
    client.force_login(alice)
    page = client.get(f"/labeling/projects/{consensus_project.pk}/").text
    assert "<td>bob</td><td>1 / 2</td>" in page and "<td>barbara</td><td>0 / 2</td>" in page
    assert labeling_progress(consensus_project)["table"] == [
        {"reader": "barbara", "assigned": 2, "submitted": 0, "in_progress": 1, "done": 0.0},
        {"reader": "bob", "assigned": 2, "submitted": 1, "in_progress": 0, "done": 0.5},
    ]


def test_export_csv_and_json_and_import_of_rsna_ground_truth(client, consensus_project, alice, phantom_dir):
    client.force_login(alice)
    upload = (phantom_dir / "labels_rsna.csv").open("rb")
    with upload:
        result = client.post(
            f"/api/v1/labeling/projects/{consensus_project.pk}/import-ground-truth", {"file": upload}
        )
    assert result.status_code == 200, result.content
    assert result.json()["cases"] == 2 and result.json()["unknown_images"] == 0
    csv_text = client.get(f"/api/v1/labeling/projects/{consensus_project.pk}/export.csv").content.decode()
    lines = csv_text.strip().split("\n")
    assert lines[0] == "ID,Label" and (len(lines) - 1) == 6 * 16
    original = {
        line.rsplit("_", 1)[1]: line for line in (phantom_dir / "labels_rsna.csv").read_text().split()[1:]
    }
    assert {line.split(",")[0].rsplit("_", 1)[1] for line in lines[1:]} == {
        name.split(",")[0] for name in original
    }
    # the same positives as the phantom's own ground truth
    assert sum(line.endswith(",1") for line in lines[1:]) == sum(
        line.endswith(",1") for line in (phantom_dir / "labels_rsna.csv").read_text().split()[1:]
    )
    exported = client.get(f"/api/v1/labeling/projects/{consensus_project.pk}/export.json").json()
    assert exported["cases"][0]["ground_truth"]["method"] == "imported"


def test_a_malformed_csv_is_refused_and_nothing_changes(client, consensus_project, alice, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Label\nID_1.2.3_brainbleed,1\n")
    client.force_login(alice)
    with bad.open("rb") as handle:
        response = client.post(
            f"/api/v1/labeling/projects/{consensus_project.pk}/import-ground-truth", {"file": handle}
        )
    assert response.status_code == 400 and "line 2" in response.json()["file"][0]
    assert GroundTruth.objects.count() == 0


def test_projects_are_for_leads(client, bob, studies):
    client.force_login(bob)
    assert client.get("/api/v1/labeling/projects/").status_code == 403
