"""Ingest of phantom series: ordering, HU, de-identification, atomicity, idempotence, bad input."""

from __future__ import annotations

import json
import random
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings

from ichweb.imaging.ingest import import_items
from ichweb.imaging.models import Series, Slice, Study
from ml.phantom import generate_case, read_manifest
from tests.imaging.conftest import PHANTOM_CONFIG

pytestmark = [pytest.mark.django_db, pytest.mark.pg]


def _rows(result) -> dict[str, dict[str, str]]:
    return {row["file"]: row for row in result.report}


def _stored_files() -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def test_phantom_series_is_sorted_and_hu_exact_whatever_the_file_order(phantom_series, tmp_path):
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    files = sorted(phantom_series.iterdir())
    for name, path in zip(random.Random(3).sample(range(len(files)), len(files)), files, strict=True):
        shutil.copy(path, shuffled / f"x{name:03d}")
    result = import_items([("shuffled", shuffled)])
    assert result.n_accepted == 8
    series = Series.objects.get()
    case = generate_case(PHANTOM_CONFIG, 0)
    np.testing.assert_array_equal(series.volume(), case.hu)
    z = list(Slice.objects.filter(series=series).values_list("z", flat=True))
    assert z == sorted(z) and np.allclose(np.diff(z), 5.0)
    assert series.slice_spacing == pytest.approx(5.0) and series.warnings == []
    assert series.pixel_spacing_row == pytest.approx(230 / 64)


def test_everything_stored_is_de_identified_with_a_stable_pseudonym(phantom_dir):
    manifest = read_manifest(phantom_dir)
    result = import_items([("phantoms", phantom_dir)])
    assert len(result.studies) == 2
    originals = json.dumps(manifest)
    for study in Study.objects.all():
        assert study.patient_pseudo_id and study.patient_pseudo_id not in originals
        assert study.study_uid not in originals
    for path in Path(settings.MEDIA_ROOT).rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        for case in manifest["cases"]:
            assert case["patient_id"] not in str(ds.PatientID)
            assert ds.StudyInstanceUID != case["study_uid"]
        assert "Phantom General Hospital" not in str(ds.get("InstitutionName", ""))
        assert ds.PatientIdentityRemoved == "YES"
        assert not any(elem.tag.is_private for elem in ds)
    # each case's denoised series lands in its study, recognised as denoised
    for study in Study.objects.all():
        assert sorted(study.series.values_list("kind", flat=True)) == ["denoised", "standard"]


def test_a_second_study_of_the_same_patient_gets_the_same_pseudonym(phantom_series, tmp_path):
    import_items([("a", phantom_series)])
    other = tmp_path / "second-visit"
    other.mkdir()
    for path in phantom_series.iterdir():
        ds = pydicom.dcmread(path)
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            setattr(ds, keyword, getattr(ds, keyword)[:-3] + "999")
        ds.save_as(other / path.name)
    import_items([("b", other)])
    studies = list(Study.objects.all())
    assert len(studies) == 2 and studies[0].patient_pseudo_id == studies[1].patient_pseudo_id


def test_re_import_is_idempotent(phantom_series):
    import_items([("first", phantom_series)])
    before = (_stored_files(), Study.objects.count(), Slice.objects.count())
    again = import_items([("again", phantom_series)])
    assert {row["reason"] for row in again.report} == {"already imported (unchanged)"}
    assert (_stored_files(), Study.objects.count(), Slice.objects.count()) == before


def test_a_failure_while_storing_leaves_nothing_behind(phantom_dir, monkeypatch):
    calls = []

    def fail_on_second_series(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(*args, **kwargs)

    import ichweb.imaging.ingest as ingest

    original = ingest._create_series_rows
    monkeypatch.setattr(ingest, "_create_series_rows", fail_on_second_series)
    result = import_items([("case2", phantom_dir / "case0002")])  # standard + denoised: two series, one study
    assert Study.objects.count() == 0 and Series.objects.count() == 0
    assert _stored_files() == []
    reasons = {row["reason"] for row in result.report if row["file"].endswith(".dcm")}
    assert reasons == {"storing the study failed (OSError); nothing of it was kept"}


def test_missing_slices_and_uneven_spacing_are_reported(phantom_series, tmp_path):
    files = sorted(phantom_series.iterdir())
    files[3].unlink()
    import_items([("gap", phantom_series)])
    series = Series.objects.get()
    assert series.n_slices == 7
    assert [w["code"] for w in series.warnings] == ["missing_slices"]
    assert "about 1 slice(s) missing" in series.warnings[0]["message"]


# --- bad input: each gets a clear reason, and nothing half-stored ---------------------------------------


def _damage(path: Path, change) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def test_truncated_file(phantom_series):
    victim = sorted(phantom_series.iterdir())[2]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    result = import_items([("s", phantom_series)])
    row = _rows(result)[f"s/{victim.name}"]
    assert row["status"] == "skipped" and (
        "cannot be decoded" in row["reason"] or "truncated" in row["reason"]
    )
    assert Series.objects.get().n_slices == 7


def test_scout_image(phantom_series):
    victim = sorted(phantom_series.iterdir())[0]
    _damage(victim, lambda ds: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY", "LOCALIZER"]))
    row = _rows(import_items([("s", phantom_series)]))[f"s/{victim.name}"]
    assert row == {
        "file": f"s/{victim.name}",
        "status": "skipped",
        "reason": "scout/localizer image: only axial slices are imported",
    }


def test_missing_rescale_tags(phantom_series):
    victim = sorted(phantom_series.iterdir())[1]
    _damage(victim, lambda ds: delattr(ds, "RescaleIntercept"))
    row = _rows(import_items([("s", phantom_series)]))[f"s/{victim.name}"]
    assert "missing RescaleIntercept" in row["reason"] and "Hounsfield" in row["reason"]


def test_non_axial_slice(phantom_series):
    victim = sorted(phantom_series.iterdir())[1]
    _damage(victim, lambda ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 0, -1]))
    assert "not an axial slice" in _rows(import_items([("s", phantom_series)]))[f"s/{victim.name}"]["reason"]


def test_mixed_series_refuses_the_series_and_stores_nothing(phantom_series):
    victim = sorted(phantom_series.iterdir())[4]

    def shrink(ds):
        ds.PixelData = ds.pixel_array[::2, ::2].copy().tobytes()
        ds.Rows, ds.Columns = 32, 32

    _damage(victim, shrink)
    result = import_items([("s", phantom_series)])
    assert {row["status"] for row in result.report} == {"skipped"}
    assert all(
        "mixed series" in row["reason"] and "64x64 and 32x32" in row["reason"] for row in result.report
    )
    assert Study.objects.count() == 0 and _stored_files() == []


def test_duplicate_instance(phantom_series, tmp_path):
    first = sorted(phantom_series.iterdir())[0]
    result = import_items([("s", phantom_series), ("copy.dcm", first)])
    row = _rows(result)["copy.dcm"]
    assert (
        row["status"] == "skipped"
        and "duplicate instance" in row["reason"]
        and f"s/{first.name}" in row["reason"]
    )
    assert Series.objects.get().n_slices == 8


def test_zip_upload_with_traversal_and_a_good_series(phantom_series, tmp_path):
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(phantom_series.iterdir()):
            zf.write(path, f"series/{path.name}")
        zf.writestr("../../evil.dcm", b"x")
    result = import_items([("study.zip", archive)])
    rows = _rows(result)
    assert rows["study.zip/../../evil.dcm"]["reason"].startswith("unsafe path in zip")
    assert result.n_accepted == 8 and Series.objects.get().n_slices == 8
