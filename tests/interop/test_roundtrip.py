"""The round trip a PACS or a viewer makes: STOW-RS a phantom study, find it with QIDO-RS, WADO-RS it back."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image

from ichweb.imaging.dicom import make_pseudonymiser, pseudonymise_uid
from ichweb.imaging.models import ImportJob, Series, Slice, Study
from tests.interop.conftest import DICOM_PARTS, bearer, content, multipart_body, read_dicom, split_multipart

pytestmark = pytest.mark.django_db


@pytest.fixture
def stowed(client, sam, series_files, settings):
    """The 8 slices of case 1 stored over STOW-RS by the service account: (answer, headers, originals)."""
    auth = bearer(sam)
    body = multipart_body([p.read_bytes() for p in series_files])
    response = client.post("/dicomweb/studies", body, content_type=DICOM_PARTS, **auth)
    originals = [pydicom.dcmread(p) for p in series_files]
    return response, auth, originals


def test_stow_stores_the_study_through_ingest_and_answers_with_the_new_uids(stowed, settings):
    response, _, originals = stowed
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    body = response.json()
    referenced = body["00081199"]["Value"]
    assert len(referenced) == 8 and "00081198" not in body
    pseudonymiser = make_pseudonymiser(settings.DEID_SECRET)
    expected = {pseudonymise_uid(ds.SOPInstanceUID, pseudonymiser) for ds in originals}
    assert {item["00081155"]["Value"][0] for item in referenced} == expected
    assert set(Slice.objects.values_list("sop_instance_uid", flat=True)) == expected
    assert all(item["00081196"]["Value"] == [0xB000] for item in referenced)  # coerced: de-identified
    study = Study.objects.get()
    assert body["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{study.study_uid}")
    job = ImportJob.objects.get()
    assert job.source == ImportJob.Source.API and job.n_accepted == 8


def test_qido_finds_it_and_wado_returns_the_same_instances_de_identified(client, stowed):
    _, auth, originals = stowed
    study = Study.objects.get()
    found = client.get("/dicomweb/studies", {"PatientID": study.patient_pseudo_id}, **auth)
    assert found.status_code == 200 and found["Content-Type"] == "application/dicom+json"
    (result,) = found.json()
    assert result["0020000D"]["Value"] == [study.study_uid]
    assert result["00201208"]["Value"] == [8] and result["00080061"]["Value"] == ["CT"]
    retrieve_url = result["00081190"]["Value"][0]
    answer = client.get(retrieve_url, **auth)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith('multipart/related; type="application/dicom"; boundary=')
    parts = split_multipart(answer["Content-Type"], content(answer))
    assert len(parts) == 8
    stored = {ds.SOPInstanceUID: ds for ds in (read_dicom(data) for _, data in parts)}
    assert set(stored) == set(Slice.objects.values_list("sop_instance_uid", flat=True))
    names = {str(ds.PatientName) for ds in originals}
    for ds in stored.values():
        assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientName) not in names
        assert ds.StudyInstanceUID == study.study_uid
    by_position = {round(float(ds.ImagePositionPatient[2]), 2): ds for ds in originals}
    for ds in stored.values():  # the pixels are the sender's
        original = by_position[round(float(ds.ImagePositionPatient[2]), 2)]
        np.testing.assert_array_equal(ds.pixel_array, original.pixel_array)


def test_metadata_has_a_bulk_data_uri_that_frames_answers_with_the_pixel_bytes(client, stowed):
    _, auth, _ = stowed
    series = Series.objects.get()
    item = series.slices.get(index=3)
    base = f"/dicomweb/studies/{series.study.study_uid}/series/{series.series_uid}"
    meta = client.get(f"{base}/metadata", **auth)
    assert meta.status_code == 200 and meta["Content-Type"] == "application/dicom+json"
    entries = {m["00080018"]["Value"][0]: m for m in meta.json()}
    assert len(entries) == 8
    pixel = entries[item.sop_instance_uid]["7FE00010"]
    assert pixel["vr"] == "OW" and "InlineBinary" not in pixel
    assert entries[item.sop_instance_uid]["00020010"]["Value"] == ["1.2.840.10008.1.2.1"]
    frames = client.get(pixel["BulkDataURI"], **auth)
    assert frames.status_code == 200
    assert frames["Content-Type"].startswith('multipart/related; type="application/octet-stream"')
    ((headers, data),) = split_multipart(frames["Content-Type"], content(frames))
    assert headers["Content-Type"].startswith("application/octet-stream")
    stored = pydicom.dcmread(series.path / "dicom" / f"{item.index:04d}.dcm")
    assert data == stored.PixelData
    pixels = np.frombuffer(data, dtype="<i2").reshape(series.rows, series.columns)
    np.testing.assert_array_equal(pixels, stored.pixel_array)


def test_rendered_is_a_png_by_default_and_a_jpeg_when_asked(client, stowed):
    _, auth, _ = stowed
    series = Series.objects.get()
    item = series.slices.get(index=4)
    study = series.study
    url = f"/dicomweb/studies/{study.study_uid}/series/{series.series_uid}/instances/{item.sop_instance_uid}"
    png = client.get(f"{url}/rendered", **auth)
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG" and image.size == (series.columns, series.rows)
    jpeg = client.get(f"{url}/frames/1/rendered", HTTP_ACCEPT="image/jpeg", **auth)
    assert jpeg.status_code == 200 and Image.open(io.BytesIO(jpeg.content)).format == "JPEG"
    # A bone window shows the skull white and the brain black; the brain window shows the brain grey.
    hu = item.hu()
    bone = np.asarray(
        Image.open(io.BytesIO(client.get(f"{url}/rendered", {"window": "600,2800"}, **auth).content))
    )
    brain = np.asarray(image)
    inside = (hu > 20) & (hu < 60)
    assert inside.any()
    assert brain[inside].mean() > bone[inside].mean()


def test_a_second_stow_of_the_same_study_changes_nothing(client, stowed):
    _, auth, originals = stowed
    again = client.post(
        "/dicomweb/studies",
        multipart_body([ds_bytes(ds) for ds in originals]),
        content_type=DICOM_PARTS,
        **auth,
    )
    assert again.status_code == 200
    assert Slice.objects.count() == 8 and Study.objects.count() == 1


def ds_bytes(ds: pydicom.Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
