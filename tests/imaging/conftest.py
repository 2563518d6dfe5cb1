from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file


def pydicom_file(name: str) -> Path:
    path = get_testdata_file(name)
    assert path, f"pydicom test file {name} missing"
    return Path(path)


@pytest.fixture
def pydicom_ct_files(tmp_path) -> Path:
    """Real scanner CT files shipped with pydicom (uncompressed and JPEG 2000), an MR and a text file."""
    folder = tmp_path / "pydicom-files"
    folder.mkdir()
    for name in ("CT_small.dcm", "J2K_pixelrep_mismatch.dcm", "693_J2KI.dcm", "MR_small.dcm"):
        shutil.copy(pydicom_file(name), folder / name)
    (folder / "notes.txt").write_text("not dicom")
    return folder
