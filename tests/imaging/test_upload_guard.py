"""Uploads are judged before their body is read: role, declared size, then a streaming cap.

The clients here enforce CSRF like a browser does: Django's CSRF check reads ``request.POST`` (and so
parses the multipart body, spooling files to disk) before any view runs.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from ichweb.imaging.models import ImportJob
from ichweb.lib.uploads import BodyCapUploadHandler, UploadTooLarge
from tests.imaging.conftest import pydicom_file

CSRF = "a" * 32  # an unmasked CSRF secret: the cookie and the header carry the same value
UPLOAD = "/api/v1/studies/"


class Untouchable(io.RawIOBase):
    """A WSGI input that fails the test when anything reads it."""

    def __init__(self) -> None:
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, *args):
        self.reads += 1
        raise AssertionError("the request body was read")

    readline = read
    readinto = read


class CountingInput(io.BytesIO):
    """A WSGI input that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        chunk = super().readline(size)
        self.bytes_read += len(chunk)
        return chunk


@pytest.fixture
def browser_like(db):
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF
    return client


@pytest.fixture
def temp_dir(settings, tmp_path):
    """Uploads over 1 kB would go to temporary files in this folder; the limit is 64 kB."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.IMPORT_MAX_UPLOAD_BYTES = 64 * 1024
    return folder


@pytest.fixture
def temp_files_made(monkeypatch) -> list[str]:
    """Names of the temporary upload files created during the test (they vanish when closed)."""
    made: list[str] = []
    original = TemporaryFileUploadHandler.new_file

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self.file.temporary_file_path())

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", spy)
    return made


def _multipart(n_bytes: int) -> bytes:
    return encode_multipart(BOUNDARY, {"files": io.BytesIO(b"\0" * n_bytes)} | {"paths": ["a.dcm"]})


def _post(client, body_input, length: int, path: str = UPLOAD):
    return client.generic(
        "POST",
        path,
        b"",
        headers={"X-CSRFToken": CSRF},
        **{"wsgi.input": body_input, "CONTENT_LENGTH": str(length), "CONTENT_TYPE": MULTIPART_CONTENT},
    )


def test_a_labeler_upload_is_refused_before_its_body_is_read(browser_like, bob, temp_dir, temp_files_made):
    browser_like.force_login(bob)
    body = _multipart(300 * 1024)  # over the limit too: the role is checked first
    stream = CountingInput(body)
    response = _post(browser_like, stream, len(body))
    assert response.status_code == 403
    assert "team leads and admins" in response.json()["detail"]
    assert stream.bytes_read == 0
    assert temp_files_made == [] and list(temp_dir.iterdir()) == []


def test_a_reader_upload_within_the_limit_is_refused_unread(browser_like, carol, temp_dir, temp_files_made):
    browser_like.force_login(carol)
    body = _multipart(8 * 1024)
    stream = CountingInput(body)
    response = _post(browser_like, stream, len(body))
    assert response.status_code == 403 and stream.bytes_read == 0 and temp_files_made == []


def test_anonymous_upload_is_refused_unread(browser_like, temp_dir):
    stream = Untouchable()
    response = _post(browser_like, stream, 3_000_000_000)
    assert response.status_code in (401, 403) and stream.reads == 0
    assert response["Content-Type"].startswith("application/json")


def test_a_declared_size_over_the_limit_gets_413_unread(browser_like, alice, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 2 * 1024**3
    browser_like.force_login(alice)
    stream = Untouchable()
    response = _post(browser_like, stream, 3_000_000_000)
    assert response.status_code == 413 and stream.reads == 0
    body = response.json()
    assert "3.00 GB is over the limit of 2.15 GB (IMPORT_MAX_UPLOAD_BYTES)" in body["detail"]
    assert "manage.py import_dicom" in body["detail"] and body["limit_bytes"] == 2 * 1024**3
    assert ImportJob.objects.count() == 0


def test_a_lead_upload_within_the_limit_still_passes(browser_like, alice, temp_dir):
    browser_like.force_login(alice)
    path = pydicom_file("CT_small.dcm")
    body = encode_multipart(BOUNDARY, {"files": [path.open("rb")], "paths": ["CT_small.dcm"]})
    assert len(body) < 64 * 1024
    response = _post(browser_like, io.BytesIO(body), len(body))
    assert response.status_code == 201, response.content
    assert response.json()["report"][0]["status"] == "accepted"


def test_other_routes_take_no_large_bodies(browser_like, alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    browser_like.force_login(alice)
    stream = Untouchable()
    response = _post(browser_like, stream, 50_000, path="/api/v1/labeling/projects/")
    assert response.status_code == 413 and stream.reads == 0
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]


def test_an_anonymous_page_post_is_refused_unread(browser_like, settings):
    """The login page's CSRF check would parse any multipart body; a large one is refused first."""
    stream = Untouchable()
    response = _post(browser_like, stream, 3_000_000_000, path="/accounts/login/")
    assert response.status_code == 413 and stream.reads == 0


def test_the_streaming_cap_stops_the_parse_past_the_limit(settings, tmp_path, temp_files_made):
    """A body whose size was not checked up front (a lying or absent declaration) is cut at the limit."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = _multipart(1024 * 1024)
    cap = BodyCapUploadHandler(64 * 1024, "IMPORT_MAX_UPLOAD_BYTES", "split it")
    cap.handle_raw_input = lambda *args, **kwargs: None  # as if no size had been declared
    stream = CountingInput(body)
    parser = MultiPartParser(
        {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))},
        stream,
        [cap, TemporaryFileUploadHandler()],
    )
    with pytest.raises(UploadTooLarge) as refused:
        parser.parse()
    assert refused.value.status_code == 413 and "IMPORT_MAX_UPLOAD_BYTES" in str(refused.value.detail)
    assert stream.bytes_read < 256 * 1024  # stopped long before the end of the 1 MB body
    assert cap.received <= 64 * 1024 + 256 * 1024
    # The partial temporary file was deleted at once, not left to the garbage collector.
    assert len(temp_files_made) == 1 and list(tmp_path.iterdir()) == []
