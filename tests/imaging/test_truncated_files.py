"""A DICOM file that ends early gets a whole sentence: the file, what is wrong, what to do (never cut)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from ichweb.imaging.ingest import import_items
from ichweb.imaging.models import Series

pytestmark = [pytest.mark.django_db]

NAME = "CT_0001.dcm"
REMEDY = "; it was not imported — copy it again from the source or re-export it from the PACS."


def _offsets(data: bytes) -> dict[str, int]:
    """Where to cut a phantom file: in its preamble, meta information, header elements and pixel data."""
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
    pixel_value = ds.get_item("PixelData").value_tell
    modality = data.index(b"\x08\x00\x60\x00CS")  # (0008,0060) Modality, explicit VR
    position = data.index(b"\x20\x00\x32\x00DS")  # (0020,0032) Image Position (Patient)
    return {
        "preamble": 100,
        "file meta information": 140,
        "Modality header": modality + 5,
        "Image Position value": position + 12,
        "pixel data header": pixel_value - 6,
        "pixel data length": pixel_value - 2,  # pydicom raises struct.error here
        "pixel data start": pixel_value + 10,
        "pixel data middle": (pixel_value + len(data)) // 2,
        "last byte": len(data) - 1,
    }


def _import_cut(phantom_series: Path, tmp_path: Path, cut: int) -> tuple[dict[str, str], bytes]:
    source = sorted(phantom_series.iterdir())[2]
    data = source.read_bytes()
    folder = tmp_path / "upload"
    shutil.copytree(phantom_series, folder)
    (folder / source.name).unlink()
    (folder / NAME).write_bytes(data[:cut])
    result = import_items([("upload", folder)])
    rows = {row["file"]: row for row in result.report}
    assert Series.objects.get().n_slices == 7  # the other slices are imported
    return rows[f"upload/{NAME}"], data


def _assert_whole_sentence(reason: str) -> None:
    assert reason.startswith(f"{NAME}: "), reason
    assert reason.endswith(REMEDY), reason
    assert reason.count("(") == reason.count(")") and "…" not in reason, reason
    assert reason[len(NAME) + 2 :].count(". ") == 0, reason  # one sentence, one full stop


@pytest.mark.parametrize(
    "where",
    [
        "preamble",
        "file meta information",
        "Modality header",
        "Image Position value",
        "pixel data header",
        "pixel data length",
        "pixel data start",
        "pixel data middle",
        "last byte",
    ],
)
def test_a_truncated_file_is_named_with_what_is_wrong_and_what_to_do(phantom_series, tmp_path, where):
    source = sorted(phantom_series.iterdir())[2]
    cut = _offsets(source.read_bytes())[where]
    row, data = _import_cut(phantom_series, tmp_path, cut)
    assert row["status"] == "skipped"
    reason = row["reason"]
    _assert_whole_sentence(reason)
    assert f"the file ends early (truncated at byte {cut:,}" in reason
    expected = {
        "preamble": "the DICOM preamble",
        "file meta information": "the file meta information",
        "Modality header": "the header, at Modality (0008,0060)",
        "Image Position value": "the header, at Image Position (Patient) (0020,0032)",
    }.get(where, "the pixel data")
    assert re.search(rf"while reading {re.escape(expected)}\)", reason), reason
    if where in ("pixel data start", "pixel data middle", "last byte"):
        assert f"of at least {len(data):,} " in reason  # what the pixel data's length asks for


def test_a_file_cut_between_header_elements_is_called_probably_cut_short(phantom_series, tmp_path):
    source = sorted(phantom_series.iterdir())[2]
    data = source.read_bytes()
    cut = data.index(b"\xe0\x7f\x10\x00")  # right before (7FE0,0010) Pixel Data: a whole header, no pixels
    row, _ = _import_cut(phantom_series, tmp_path, cut)
    assert row["status"] == "skipped"
    _assert_whole_sentence(row["reason"])
    assert f"no pixel data, so it was probably cut short (it ends at byte {cut:,}" in row["reason"]


def test_an_empty_file(phantom_series, tmp_path):
    row, _ = _import_cut(phantom_series, tmp_path, 0)
    assert row["reason"] == f"{NAME}: the file is empty (0 bytes){REMEDY}"


def test_complete_files_are_never_called_truncated():
    """Every file shipped with pydicom but its two truncated ones is whole (sequences, JPEG, big endian)."""
    from ichweb.imaging.dicom import find_truncation

    shipped = Path(pydicom.data.__file__).parent / "test_files"
    flagged = {p.name for p in sorted(shipped.rglob("*")) if p.is_file() and find_truncation(p) is not None}
    assert flagged == {"MR_truncated.dcm", "rtplan_truncated.dcm"}


def test_a_decoders_long_message_is_shortened_at_a_word():
    from ichweb.imaging.dicom import QUOTE_MAX_CHARS, _quote

    message = "The number of bytes of pixel data is less than expected " * 6 + "(12 vs 8192 bytes)."
    quoted = _quote(message)
    assert len(quoted) <= QUOTE_MAX_CHARS and quoted.endswith("…")
    kept = quoted[:-1]
    assert message.startswith(kept) and message[len(kept)] == " " and not kept.endswith(" ")
    assert _quote("short message.") == "short message"
