"""The imaging API: upload, permissions, pixel delivery with caching."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image

from ichweb.imaging.dicom import to_hu
from ichweb.imaging.models import ImportJob, Series, Slice, Study
from tests.imaging.conftest import pydicom_file

pytestmark = pytest.mark.pg


def _upload(client, *paths, names=None):
    handles = [open(p, "rb") for p in paths]  # noqa: SIM115 -- closed below
    try:
        data = {"files": handles}
        if names:
            data["paths"] = names
        return client.post("/api/v1/studies/", data)
    finally:
        for h in handles:
            h.close()


@pytest.fixture
def imported(client, alice, pydicom_ct_files):
    client.force_login(alice)
    response = _upload(client, *sorted(pydicom_ct_files.iterdir()))
    assert response.status_code == 201, response.content
    return response.json()


def test_lead_uploads_and_gets_a_per_file_report(imported):
    job = imported
    assert job["status"] == "done" and job["progress"] == 1.0
    rows = {row["file"]: row for row in job["report"]}
    assert rows["CT_small.dcm"]["status"] == "accepted"
    assert rows["J2K_pixelrep_mismatch.dcm"]["status"] == "accepted"
    assert rows["MR_small.dcm"] == {
        "file": "MR_small.dcm",
        "status": "skipped",
        "reason": "modality MR: only CT images are accepted",
    }
    assert "not a DICOM file" in rows["notes.txt"]["reason"]
    assert len(job["studies"]) == Study.objects.count() == 3
    assert ImportJob.objects.get(pk=job["id"]).upload_dir  # the upload folder is removed after the import


def test_paths_name_the_files_in_the_report(client, alice):
    client.force_login(alice)
    response = _upload(client, pydicom_file("CT_small.dcm"), names=["patient1/series2/IM0001"])
    assert response.json()["report"][0]["file"] == "patient1/series2/IM0001"


def test_paths_must_match_files(client, alice):
    client.force_login(alice)
    response = _upload(client, pydicom_file("CT_small.dcm"), names=["a", "b"])
    assert response.status_code == 400 and "paths" in response.json()


def test_hu_endpoint_returns_little_endian_int16_equal_to_the_rescaled_pixels(client, imported):
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    expected = to_hu(ds, ds.pixel_array)
    series = Series.objects.get(rows=128)
    item = series.slices.get()
    response = client.get(f"/api/v1/slices/{item.pk}/hu")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Slice-Shape"] == "128,128"
    hu = np.frombuffer(response.content, dtype="<i2").reshape(128, 128)
    np.testing.assert_array_equal(hu, expected)
    assert "private" in response["Cache-Control"]
    again = client.get(f"/api/v1/slices/{item.pk}/hu", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""


def test_png_rendering_presets_and_thumbnails(client, imported):
    item = Slice.objects.filter(series__rows=512).first()
    response = client.get(f"/api/v1/slices/{item.pk}/image.png?preset=brain", HTTP_ACCEPT="image/png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (512, 512) and image.mode == "L"
    rgb = Image.open(
        io.BytesIO(client.get(f"/api/v1/slices/{item.pk}/image.png?preset=paper&size=64").content)
    )
    assert rgb.size == (64, 64) and rgb.mode == "RGB"
    assert (
        client.get(
            f"/api/v1/slices/{item.pk}/image.png?preset=brain", HTTP_IF_NONE_MATCH=response["ETag"]
        ).status_code
        == 304
    )
    thumb = client.get(f"/api/v1/series/{item.series_id}/thumbnail.png")
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (128, 128)


def test_unknown_preset_names_the_field(client, imported):
    item = Slice.objects.first()
    response = client.get(f"/api/v1/slices/{item.pk}/image.png?preset=lung")
    assert response.status_code == 400
    assert "preset" in response.json() and "lung" in response.json()["preset"][0]


def test_study_list_and_series_detail(client, imported):
    body = client.get("/api/v1/studies/").json()
    assert body["count"] == 3 and {"results", "next", "previous"} <= set(body)
    first = body["results"][0]
    assert first["n_slices"] == 1 and first["thumbnail_url"].endswith("thumbnail.png")
    assert "PatientName" not in str(first)
    detail = client.get(f"/api/v1/series/{first['series'][0]['id']}/").json()
    assert detail["slices"][0]["hu_url"].endswith("/hu")


def test_labeler_sees_but_cannot_import(client, bob, imported):
    client.force_login(bob)
    assert client.get("/api/v1/studies/").json()["count"] == 3
    response = _upload(client, pydicom_file("CT_small.dcm"))
    assert response.status_code == 403 and "team leads and admins" in response.json()["detail"]


@pytest.mark.parametrize("who", ["carol", "mallory"])
def test_readers_and_outsiders_get_no_images(client, request, imported, who):
    client.force_login(request.getfixturevalue(who))
    item = Slice.objects.first()
    assert client.get("/api/v1/studies/").json()["count"] == 0
    assert client.get(f"/api/v1/slices/{item.pk}/hu").status_code == 404
    assert client.get(f"/api/v1/slices/{item.pk}/image.png").status_code == 404
    assert client.get(f"/api/v1/series/{item.series_id}/").status_code == 404
    assert client.get(f"/api/v1/import-jobs/{imported['id']}/").status_code == 404


def test_anonymous_gets_nothing(client, imported):
    client.logout()
    item = Slice.objects.first()
    assert client.get(f"/api/v1/slices/{item.pk}/hu").status_code in (401, 403)


def test_upload_over_the_size_limit_is_refused_with_the_limit(client, alice, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    client.force_login(alice)
    response = _upload(client, pydicom_file("CT_small.dcm"))
    assert response.status_code == 413
    assert "over the limit" in response.json()["detail"]
    assert ImportJob.objects.count() == 0 and Study.objects.count() == 0


def test_large_upload_becomes_a_job_for_the_worker(
    client, alice, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.IMPORT_INLINE_MAX_BYTES = 10
    sent = []
    monkeypatch.setattr("ichweb.dispatch.send", lambda task_name, **kw: sent.append((task_name, kw)))
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, pydicom_file("CT_small.dcm"))
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "pending" and sent == [
        ("ichweb.imaging.tasks.import_upload", {"job_id": job["id"]})
    ]
    polled = client.get(job["url"]).json()
    assert polled["status"] == "pending"
    from ichweb.imaging.tasks import import_upload

    assert import_upload.apply(kwargs={"job_id": job["id"]}).get() == "done"
    done = client.get(job["url"]).json()
    assert (
        done["status"] == "done" and done["report"][0]["status"] == "accepted" and len(done["studies"]) == 1
    )


def test_every_ct_file_shipped_with_pydicom_is_imported_or_refused_with_a_reason(client, alice, tmp_path):
    """Real scanner files, compressed ones included (JPEG 2000, JPEG lossless/lossy, RLE, big endian)."""
    from pathlib import Path

    import pydicom.data

    from ichweb.imaging.ingest import import_items

    # The files on disk only: pydicom's get_testdata_files("*") would try to download its larger set.
    shipped = Path(pydicom.data.__file__).parent / "test_files"
    ct_files = []
    for name in sorted(p for p in shipped.rglob("*") if p.is_file()):
        try:
            if pydicom.dcmread(name, stop_before_pixels=True).get("Modality") == "CT":
                ct_files.append(Path(name))
        except Exception:  # noqa: S112 -- not every test file is DICOM
            continue
    assert len(ct_files) >= 10
    items = [(f"{i:03d}-{p.name}", p) for i, p in enumerate(ct_files)]
    result = import_items(items)
    rows = {row["file"]: row for row in result.report}
    assert len(rows) == len(items)
    for row in rows.values():
        assert row["status"] == "accepted" or len(row["reason"]) > 15, row
    assert result.n_accepted >= 3
    accepted = {row["file"].split("-", 1)[1] for row in rows.values() if row["status"] == "accepted"}
    assert {"CT_small.dcm", "J2K_pixelrep_mismatch.dcm", "693_J2KI.dcm"} <= accepted
