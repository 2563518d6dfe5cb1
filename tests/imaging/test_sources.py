"""Zip and folder expansion: traversal, bombs, limits."""

from __future__ import annotations

import zipfile

import pytest

from ichweb.imaging.sources import Limits, expand, safe_member_name

LIMITS = Limits(max_files=100, max_unzipped_bytes=10 * 1024 * 1024, max_ratio=50)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("a/b.dcm", True),
        ("../evil.dcm", False),
        ("a/../../evil", False),
        ("/etc/passwd", False),
        ("C:/x.dcm", False),
        ("a\\..\\..\\x", False),
        ("ok..name.dcm", True),
    ],
)
def test_safe_member_name(name, safe):
    assert (safe_member_name(name) is not None) is safe


def test_zip_with_traversal_entry_refuses_that_entry(tmp_path):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("series/IM1.dcm", b"x" * 10)
        zf.writestr("../../outside.dcm", b"y" * 10)
    files, rejected = expand([("upload.zip", archive)], tmp_path / "scratch", LIMITS)
    assert [f.name for f in files] == ["upload.zip/series/IM1.dcm"]
    assert rejected[0].name == "upload.zip/../../outside.dcm" and "unsafe path" in rejected[0].reason
    assert not (tmp_path / "outside.dcm").exists() and not (tmp_path.parent / "outside.dcm").exists()


def test_zip_bomb_is_refused_by_ratio_before_extraction(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.dcm", b"\0" * (5 * 1024 * 1024))
    files, rejected = expand([("bomb.zip", archive)], tmp_path / "scratch", LIMITS)
    assert files == []
    assert "compression ratio" in rejected[0].reason and "zip bomb" in rejected[0].reason
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").rglob("*.dcm"))


def test_zip_over_the_expanded_size_limit_is_refused(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.dcm", b"a" * (6 * 1024 * 1024))
        zf.writestr("b.dcm", b"b" * (6 * 1024 * 1024))
    files, rejected = expand([("big.zip", archive)], tmp_path / "scratch", LIMITS)
    assert files == [] and "over the limit" in rejected[0].reason


def test_folders_are_walked_and_hidden_files_ignored(tmp_path):
    folder = tmp_path / "study"
    (folder / "series1").mkdir(parents=True)
    (folder / "series1" / "IM1").write_bytes(b"1")
    (folder / ".DS_Store").write_bytes(b"junk")
    files, rejected = expand([("study", folder)], tmp_path / "scratch", LIMITS)
    assert [f.name for f in files] == ["study/series1/IM1"] and rejected == []


def test_too_many_files_refuses_the_import(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.dcm").write_bytes(b"x")
    files, rejected = expand([("many", folder)], tmp_path / "s", Limits(3, 10**6, 50))
    assert files == [] and "more than 3 files" in rejected[-1].reason


def test_damaged_zip_is_reported(tmp_path):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(b"PK\x03\x04" + b"\0" * 50)
    files, rejected = expand([("bad.zip", archive)], tmp_path / "s", LIMITS)
    assert files == [] and "damaged zip" in rejected[0].reason
