"""STOW-RS bad input: each answer says what is wrong, and nothing is ever half imported."""

from __future__ import annotations

import io
import shutil

import pydicom
import pytest
from pydicom.uid import generate_uid

from ichweb.errors import RuleError
from ichweb.imaging.models import ImportJob, Series, Slice, Study
from ichweb.interop import multipart
from ichweb.lib.uploads import UploadTooLarge
from tests.imaging.conftest import pydicom_file
from tests.interop.conftest import BOUNDARY, DICOM_PARTS, bearer, multipart_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(sam) -> dict[str, str]:
    return bearer(sam)


def stow(client, body: bytes, auth, content_type: str = DICOM_PARTS, path: str = "/dicomweb/studies"):
    return client.post(path, body, content_type=content_type, **auth)


def nothing_stored() -> bool:
    return not (Study.objects.exists() or Series.objects.exists() or Slice.objects.exists())


def failures(response) -> list[tuple[int, str]]:
    items = response.json().get("00081198", {}).get("Value", [])
    return [(i["00081197"]["Value"][0], i["00000902"]["Value"][0]) for i in items]


def test_a_part_that_is_not_application_dicom_refuses_the_whole_request(client, auth, series_files):
    parts = [p.read_bytes() for p in series_files[:3]] + [b"hello"]
    types = ["application/dicom"] * 3 + ["text/plain"]
    response = stow(client, multipart_body(parts, types=types), auth)
    assert response.status_code == 400
    assert "part 4 is text/plain" in response.json()["body"][0]
    assert nothing_stored() and not ImportJob.objects.exists()


def test_a_body_that_does_not_keep_to_its_boundary_is_400_and_stores_nothing(client, auth, series_files):
    body = multipart_body([p.read_bytes() for p in series_files])
    wrong = DICOM_PARTS.replace(BOUNDARY, "another-boundary")
    response = stow(client, body, auth, content_type=wrong)
    assert response.status_code == 400 and "another-boundary" in response.json()["boundary"][0]
    cut = stow(client, body[: len(body) // 2], auth)
    assert cut.status_code == 400 and "closing boundary" in cut.json()["body"][0]
    missing = stow(client, body, auth, content_type='multipart/related; type="application/dicom"')
    assert missing.status_code == 400 and "boundary" in missing.json()
    bent = body.replace(f"--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY}xx\r\n".encode(), 1)
    assert stow(client, bent, auth).status_code == 400
    empty = stow(client, f"--{BOUNDARY}--\r\n".encode(), auth)
    assert empty.status_code == 400 and "no part" in empty.json()["body"][0]
    assert nothing_stored() and not ImportJob.objects.exists()


def test_other_media_types_are_415(client, auth, series_files):
    data = series_files[0].read_bytes()
    assert stow(client, data, auth, content_type="application/dicom").status_code == 415
    xml = f'multipart/related; type="application/dicom+xml"; boundary={BOUNDARY}'
    response = stow(client, multipart_body([b"<x/>"]), auth, content_type=xml)
    assert response.status_code == 415 and "application/dicom" in response.json()["detail"]
    assert nothing_stored()


def test_a_dicom_part_that_is_not_dicom_fails_alone_with_c000_and_409(client, auth):
    response = stow(client, multipart_body([b"this is not a DICOM file"]), auth)
    assert response.status_code == 409 and response["Content-Type"] == "application/dicom+json"
    assert failures(response) == [(0xC000, failures(response)[0][1])]
    assert "part 1 is not a DICOM file" in failures(response)[0][1]
    assert "00081199" not in response.json() and nothing_stored()


def test_the_study_is_stored_whole_beside_parts_that_fail(client, auth, series_files, tmp_path):
    scout = pydicom.dcmread(series_files[0])
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.SOPInstanceUID = scout.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    buffer = io.BytesIO()
    scout.save_as(buffer, enforce_file_format=True)
    mr = pydicom_file("MR_small.dcm").read_bytes()
    parts = [p.read_bytes() for p in series_files] + [buffer.getvalue(), mr, b"garbage"]
    response = stow(client, multipart_body(parts), auth)
    assert response.status_code == 202, response.content
    codes = sorted(code for code, _ in failures(response))
    assert codes == [0xA900, 0xA900, 0xC000]
    reasons = " ".join(reason for _, reason in failures(response))
    assert "scout/localizer" in reasons and "MR Image Storage" in reasons
    assert len(response.json()["00081199"]["Value"]) == 8
    assert Slice.objects.count() == 8 and Study.objects.count() == 1


def test_an_instance_the_import_refuses_is_listed_with_0110_and_its_reason(client, auth, series_files):
    damaged = pydicom.dcmread(series_files[0])
    del damaged.RescaleSlope
    buffer = io.BytesIO()
    damaged.save_as(buffer, enforce_file_format=True)
    parts = [buffer.getvalue()] + [p.read_bytes() for p in series_files[1:]]
    response = stow(client, multipart_body(parts), auth)
    assert response.status_code == 202
    ((code, reason),) = failures(response)
    assert code == 0x0110 and "RescaleSlope" in reason
    assert Slice.objects.count() == 7


def test_stow_to_a_study_refuses_instances_of_another(client, auth, series_files, phantom_cases):
    other = sorted((phantom_cases / "case0002" / "series").glob("*.dcm"))[0].read_bytes()
    target = pydicom.dcmread(series_files[0]).StudyInstanceUID
    response = stow(client, multipart_body([other]), auth, path=f"/dicomweb/studies/{target}")
    assert response.status_code == 409
    ((code, reason),) = failures(response)
    assert code == 0xA900 and "not to the study" in reason and nothing_stored()
    good = stow(
        client, multipart_body([series_files[0].read_bytes()]), auth, path=f"/dicomweb/studies/{target}"
    )
    assert good.status_code == 200


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    def readline(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def test_an_oversized_body_is_413_before_it_is_read(client, auth, settings):
    settings.ICHWEB_STOW_MAX_BYTES = 1000
    response = client.generic(
        "POST",
        "/dicomweb/studies",
        b"",
        content_type=DICOM_PARTS,
        **{"wsgi.input": Unreadable(), "CONTENT_LENGTH": "5000"},
        **auth,
    )
    assert response.status_code == 413
    assert "ICHWEB_STOW_MAX_BYTES" in response.content.decode() and nothing_stored()


def test_the_reader_stops_at_the_limit_even_without_a_declared_length(tmp_path, series_files):
    body = io.BytesIO(multipart_body([p.read_bytes() for p in series_files]))
    with pytest.raises(UploadTooLarge):
        multipart.read_parts(body, BOUNDARY, tmp_path, limit=10_000, setting="ICHWEB_STOW_MAX_BYTES")


def test_the_reader_splits_parts_with_preamble_padding_and_epilogue(tmp_path):
    body = (
        b"a preamble\r\n--b  \r\nContent-Type: application/dicom\r\n\r\nfirst\r\n--b\r\n\r\n"
        b"second\r\nwith --b inside\r\n--b--\r\nepilogue"
    )
    parts = multipart.read_parts(io.BytesIO(body), "b", tmp_path, limit=10_000, setting="X")
    assert [p.path.read_bytes() for p in parts] == [b"first", b"second\r\nwith --b inside"]
    assert parts[0].content_type is not None and parts[0].content_type.type == "application/dicom"
    assert parts[1].content_type is None
    with pytest.raises(RuleError, match="ends inside its headers"):
        multipart.read_parts(
            io.BytesIO(b"--b\r\nContent-Type: x"), "b", tmp_path / "x", limit=100, setting="X"
        )
    shutil.rmtree(tmp_path, ignore_errors=True)
