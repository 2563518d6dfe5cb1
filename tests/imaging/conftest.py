from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from ml.phantom import PhantomConfig


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


PHANTOM_CONFIG = PhantomConfig(
    seed=11, size=64, slices_min=8, slices_max=8, negative_fraction=0.0, denoised=True
)


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory) -> Path:
    """Two small phantom cases (64x64, 8 slices), the second with a denoised series: written once per run."""
    from ml.phantom import generate_dataset

    out = tmp_path_factory.mktemp("phantoms")
    generate_dataset(PHANTOM_CONFIG, out, n_cases=2, progress=False)
    return out


@pytest.fixture
def phantom_series(phantom_dir, tmp_path) -> Path:
    """A private copy of case 1's standard series, free to be damaged by the test."""
    target = tmp_path / "series"
    shutil.copytree(phantom_dir / "case0001" / "series", target)
    return target
