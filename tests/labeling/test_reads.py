"""Reading and labeling a case: queue, autosave with versions, bad input, points, exclusion, submission."""

from __future__ import annotations

import pytest

from ichweb.analytics.services import labeling_progress
from ichweb.labeling import services
from ichweb.labeling.models import AuditEvent, BleedingPoint, Read, SliceLabel
from tests.labeling.reads_api import put_labels, read_of, read_url, submit

pytestmark = [pytest.mark.django_db, pytest.mark.pg]


def test_reads_are_balanced_and_each_reader_sees_only_their_queue(client, consensus_project, bob, barbara):
    assert Read.objects.filter(reader=bob).count() == Read.objects.filter(reader=barbara).count() == 2
    client.force_login(bob)
    body = client.get("/api/v1/labeling/reads/").json()
    assert body["count"] == 2 and {r["kind"] for r in body["results"]} == {"primary"}
    page = client.get("/labeling/")
    assert page.status_code == 200 and "0 / 2" in page.text


def test_labels_autosave_with_versions_range_writes_and_audit(client, consensus_project, bob):
    read = read_of(bob, consensus_project)
    client.force_login(bob)
    response = put_labels(client, read, {"3": ["IPH", "SAH"], "4": ["IPH"], "5": []})
    assert response.status_code == 200 and response.json() == {"version": 1}
    detail = client.get(read_url(read)).json()
    assert detail["labels"] == {"3": ["IPH", "SAH"], "4": ["IPH"], "5": []}
    assert detail["status"] == "in_progress"
    put_labels(client, read, {"4": ["IVH"]}, version=1)
    events = list(AuditEvent.objects.filter(read=read, slice_index=4).values_list("before", "after"))
    assert events == [(None, ["IPH"]), (["IPH"], ["IVH"])]


def test_a_stale_write_gets_409_and_changes_nothing(client, consensus_project, bob):
    read = read_of(bob, consensus_project)
    client.force_login(bob)
    put_labels(client, read, {"0": ["IPH"]}, version=0)
    stale = put_labels(client, read, {"0": ["EDH"]}, version=0)
    assert (
        stale.status_code == 409 and stale.json()["version"] == 1 and "another tab" in stale.json()["detail"]
    )
    assert client.get(read_url(read)).json()["labels"] == {"0": ["IPH"]}


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
    read = read_of(bob, consensus_project)
    client.force_login(bob)
    response = put_labels(client, read, slices)
    assert response.status_code == 400 and text in response.json()[field][0]
    assert SliceLabel.objects.count() == 0 and Read.objects.get(pk=read.pk).version == 0


def test_bleeding_points_add_move_delete_and_bounds(client, consensus_project, bob):
    read = read_of(bob, consensus_project)
    client.force_login(bob)
    add = client.post(
        read_url(read, "points"),
        {"version": 0, "slice_index": 3, "x": 30.5, "y": 20, "subtype": "IPH"},
        content_type="application/json",
    )
    assert add.status_code == 201
    point = add.json()["point"]
    assert point["slice_index"] == 3 and point["x"] == 30.5 and point["subtype"] == "IPH"
    outside = client.post(
        read_url(read, "points"),
        {"version": 1, "slice_index": 3, "x": 64, "y": 1},
        content_type="application/json",
    )
    assert outside.status_code == 400 and "outside the image" in outside.json()["x"][0]
    moved = client.patch(
        read_url(read, f"points/{point['id']}"),
        {"version": 1, "x": 10, "y": 11},
        content_type="application/json",
    )
    assert moved.status_code == 200 and moved.json()["point"]["x"] == 10.0
    assert client.delete(read_url(read, f"points/{point['id']}") + "?version=2").json() == {"version": 3}
    assert BleedingPoint.objects.count() == 0
    actions = list(AuditEvent.objects.filter(read=read).values_list("action", flat=True))
    assert actions == ["point_add", "point_move", "point_delete"]


def test_exclusion_reasons_are_checked(client, consensus_project, bob):
    read = read_of(bob, consensus_project)
    client.force_login(bob)
    bad = client.post(
        read_url(read, "exclude"), {"version": 0, "reason": "boredom"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "unknown exclusion reason" in bad.json()["reason"][0]
    ok = client.post(
        read_url(read, "exclude"),
        {"version": 0, "reason": "surgery", "note": "craniotomy"},
        content_type="application/json",
    )
    assert ok.status_code == 200
    detail = client.get(read_url(read)).json()
    assert detail["excluded"] is True and detail["exclusion_reason"] == "surgery"


def test_submitted_reads_are_read_only(client, consensus_project, bob):
    read = read_of(bob, consensus_project)
    assert submit(client, bob, read).json()["status"] == "submitted"
    response = put_labels(client, read, {"0": ["IPH"]}, version=1)
    assert response.status_code == 409 and "submitted" in response.json()["detail"]


def test_reader_progress_is_one_count_for_the_project_page_and_the_dashboard(
    client, consensus_project, alice, bob, barbara
):
    submit(client, bob, read_of(bob, consensus_project))
    client.force_login(barbara)
    put_labels(client, read_of(barbara, consensus_project), {"1": ["IVH"]})
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


def test_projects_are_for_leads(client, bob, studies):
    client.force_login(bob)
    assert client.get("/api/v1/labeling/projects/").status_code == 403
