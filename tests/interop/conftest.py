"""Fixtures of DICOM networking: phantom studies (64 px, 8 slices), a service account, tokens, multipart."""

from __future__ import annotations

import email.parser
import shutil
from pathlib import Path

import pydicom
import pytest

from ichweb.imaging import ingest
from ichweb.imaging.models import Study
from ichweb.interop import tokens
from tests.accounts.factories import UserFactory
from tests.imaging.conftest import PHANTOM_CONFIG

BOUNDARY = "test-boundary-4f2a"
DICOM_PARTS = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


@pytest.fixture(scope="session")
def phantom_cases(tmp_path_factory) -> Path:
    """Two phantom cases (``case0001``, ``case0002``), each a standard series of 8 slices of 64x64."""
    from ml.phantom import generate_dataset

    out = tmp_path_factory.mktemp("interop-phantoms")
    generate_dataset(PHANTOM_CONFIG, out, n_cases=2, progress=False)
    return out


@pytest.fixture
def series_files(phantom_cases, tmp_path) -> list[Path]:
    """A private copy of case 1's standard series, slice 1 first."""
    target = tmp_path / "case1"
    shutil.copytree(phantom_cases / "case0001" / "series", target)
    return sorted(target.glob("*.dcm"))


@pytest.fixture
def sam(db):
    """sam, a service account (a PACS gateway)."""
    return UserFactory(username="sam", roles=("service",))


def bearer(user, *, days: int = 30) -> dict[str, str]:
    """Test-client headers with a fresh token of ``user``."""
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.create_token(user, name='test', days=days).secret}"}


@pytest.fixture
def stored(db, phantom_cases, alice) -> Study:
    """Case 1 imported through ingest (de-identified), as any door would store it."""
    result = ingest.import_items([("case0001", phantom_cases / "case0001" / "series")], user=alice)
    assert len(result.studies) == 1, result.report
    return result.studies[0]


def multipart_body(parts: list[bytes], *, boundary: str = BOUNDARY, types: list[str] | None = None) -> bytes:
    """A multipart/related body of ``parts`` (each application/dicom unless ``types`` says otherwise)."""
    out = b""
    for i, part in enumerate(parts):
        kind = types[i] if types else "application/dicom"
        out += f"--{boundary}\r\nContent-Type: {kind}\r\n\r\n".encode() + part + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart answer (headers, bytes), parsed by the standard library's email parser."""
    message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    assert message.is_multipart(), content_type
    return [(dict(part.items()), part.get_payload(decode=True)) for part in message.get_payload()]


def read_dicom(data: bytes) -> pydicom.Dataset:
    from io import BytesIO

    return pydicom.dcmread(BytesIO(data))


def content(response) -> bytes:
    """The body of a test-client answer, streamed or not."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content
