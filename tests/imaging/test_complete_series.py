"""A series imported with a gap is completed by a later import, atomically, keeping its Slice rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings

from ichweb.imaging.ingest import import_items
from ichweb.imaging.models import Series, Slice
from ichweb.imaging.signals import series_imported
from ichweb.labeling.models import BleedingPoint, Case, Project, Read, SliceLabel
from ml.phantom import PhantomConfig, generate_case
from ml.phantom.dicom import write_series
from tests.accounts.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.pg]

CONFIG = PhantomConfig(seed=5, size=32, slices_min=28, slices_max=28, negative_fraction=0.0, denoised=False)
UNCHANGED = "already imported (unchanged)"
#: The file left out of the first import (slice 14 of 28, z = 65 mm above the lowest).
GAP = "IM0014.dcm"


@pytest.fixture(scope="module")
def series_28(tmp_path_factory) -> Path:
    """A 28-slice phantom series (32x32), IM0001.dcm ... IM0028.dcm, lowest first."""
    folder = tmp_path_factory.mktemp("series28")
    write_series(generate_case(CONFIG, 0), folder)
    return folder


@pytest.fixture
def with_gap(series_28, tmp_path) -> Path:
    """The same 28 files, but slice 14 lacks its rescale tags: its import refuses it."""
    folder = tmp_path / "with-gap"
    shutil.copytree(series_28, folder)
    ds = pydicom.dcmread(folder / GAP)
    del ds.RescaleSlope
    del ds.RescaleIntercept
    ds.save_as(folder / GAP)
    return folder


class Hooks:
    """Runs imports with their on-commit hooks executed, recording what ``series_imported`` said."""

    def __init__(self, capture) -> None:
        self.capture = capture
        self.sent: list[dict] = []

    def receive(self, sender, **kwargs) -> None:
        self.sent.append({k: v for k, v in kwargs.items() if k != "signal"})

    def run(self, items):
        with self.capture(execute=True):
            return import_items(items)


@pytest.fixture
def hooks(django_capture_on_commit_callbacks):
    hooks = Hooks(django_capture_on_commit_callbacks)
    series_imported.connect(hooks.receive, dispatch_uid="test-complete-series")
    yield hooks
    series_imported.disconnect(dispatch_uid="test-complete-series")


def _rows(result) -> dict[str, dict[str, str]]:
    return {Path(row["file"]).name: row for row in result.report}


def _stored_files() -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def _state(series: Series) -> tuple:
    series.refresh_from_db()
    slices = list(series.slices.order_by("index").values_list("pk", "index", "sop_instance_uid", "z"))
    return (
        series.n_slices,
        series.storage_dir,
        series.warnings,
        slices,
        [(p, p.read_bytes()) for p in _stored_files()],
    )


def _label_slice(series: Series, index: int) -> tuple[SliceLabel, BleedingPoint]:
    reader = UserFactory(username=f"reader{index}", roles=("labeler",))
    project = Project.objects.create(name=f"project {index}")
    case = Case.objects.create(project=project, study=series.study, series=series)
    read = Read.objects.create(case=case, reader=reader)
    target = series.slices.get(index=index)
    label = SliceLabel.objects.create(read=read, slice=target, iph=True)
    point = BleedingPoint.objects.create(read=read, slice=target, x=10.0, y=12.0, subtype="IPH")
    return label, point


def test_a_series_imported_with_a_gap_is_completed_by_a_later_import(series_28, with_gap, hooks):
    first = hooks.run([("first", with_gap)])
    rows = _rows(first)
    assert rows[GAP]["status"] == "skipped"
    assert rows[GAP]["reason"].startswith("missing RescaleSlope and RescaleIntercept")
    assert first.n_accepted == 27
    series = Series.objects.get()
    assert series.n_slices == 27 and [w["code"] for w in series.warnings] == ["missing_slices"]
    assert [call["series_ids"] for call in hooks.sent] == [[series.pk]]

    # labels on the 27 slices: one below the gap (index stays), one above it (index moves up by one)
    below, below_point = _label_slice(series, 5)
    above, above_point = _label_slice(series, 20)
    below_sop, above_sop = below.slice.sop_instance_uid, above.slice.sop_instance_uid
    old_rows = dict(series.slices.values_list("sop_instance_uid", "pk"))
    old_dir = series.path

    second = hooks.run([("second", series_28)])
    rows = _rows(second)
    assert second.n_accepted == 28 and {row["status"] for row in rows.values()} == {"accepted"}
    assert rows[GAP]["reason"] == "added to the imported series: added 1 instance(s), 28 in all"
    others = {row["reason"] for name, row in rows.items() if name != GAP}
    assert others == {"already imported; the series was completed: added 1 instance(s), 28 in all"}
    assert UNCHANGED not in {row["reason"] for row in rows.values()}

    series.refresh_from_db()
    assert Series.objects.count() == 1 and series.n_slices == 28 and Slice.objects.count() == 28
    assert series.warnings == [] and series.slice_spacing == pytest.approx(5.0)
    np.testing.assert_array_equal(series.volume(), generate_case(CONFIG, 0).hu)
    slices = list(series.slices.order_by("index"))
    assert [s.index for s in slices] == list(range(28))
    assert np.allclose(np.diff([s.z for s in slices]), 5.0)
    # every imported slice kept its row; the new one got a row of its own at index 13
    assert {s.sop_instance_uid: s.pk for s in slices if s.sop_instance_uid in old_rows} == old_rows
    assert [s.index for s in slices if s.sop_instance_uid not in old_rows] == [13]
    # the originals were rebuilt in slice order, beside the new volume; the old folder is gone
    originals = sorted((series.path / "dicom").iterdir())
    assert [pydicom.dcmread(p).SOPInstanceUID for p in originals] == [s.sop_instance_uid for s in slices]
    assert not old_dir.exists() and not any((Path(settings.MEDIA_ROOT) / "staging").glob("*"))
    # labels and points stay on their images
    for label, point, sop, index in ((below, below_point, below_sop, 5), (above, above_point, above_sop, 21)):
        label.refresh_from_db()
        point.refresh_from_db()
        assert label.slice.sop_instance_uid == sop and label.slice.index == index and label.iph
        assert point.slice_id == label.slice_id
    np.testing.assert_array_equal(above.slice.hu(), generate_case(CONFIG, 0).hu[21])
    # the inference hook hears of the completed series (the active model predicts it again)
    assert hooks.sent[-1] == {"series_ids": [series.pk], "completed_ids": [series.pk]}

    # the same 28 files again: unchanged, nothing written, nothing sent
    before, n_sent = _state(series), len(hooks.sent)
    again = hooks.run([("again", series_28)])
    assert {row["reason"] for row in again.report} == {UNCHANGED} and again.n_accepted == 28
    assert _state(series) == before and len(hooks.sent) == n_sent


def test_the_missing_file_alone_completes_the_series(series_28, with_gap, hooks):
    hooks.run([("first", with_gap)])
    result = hooks.run([("late.dcm", series_28 / GAP)])
    assert result.report == [
        {
            "file": "late.dcm",
            "status": "accepted",
            "reason": "added to the imported series: added 1 instance(s), 28 in all",
        }
    ]
    series = Series.objects.get()
    assert series.n_slices == 28 and series.warnings == []
    np.testing.assert_array_equal(series.volume(), generate_case(CONFIG, 0).hu)


def test_a_completion_that_fails_a_check_leaves_the_series_as_it_was(series_28, with_gap, tmp_path, hooks):
    hooks.run([("first", with_gap)])
    series = Series.objects.get()
    before, n_sent = _state(series), len(hooks.sent)
    odd = tmp_path / "odd" / GAP
    odd.parent.mkdir()
    ds = pydicom.dcmread(series_28 / GAP)
    ds.PixelSpacing = [0.5, 0.5]  # another geometry under the same series UID
    ds.save_as(odd)

    result = hooks.run([("odd", odd.parent)])
    (row,) = result.report
    assert row["status"] == "skipped"
    assert row["reason"] == (
        "not added to the imported series, which keeps its 27 instance(s): "
        "mixed series: different pixel spacings within one series UID"
    )
    assert _state(series) == before and len(hooks.sent) == n_sent


def test_a_failure_while_completing_leaves_the_series_as_it_was(series_28, with_gap, monkeypatch, hooks):
    import ichweb.imaging.ingest as ingest

    hooks.run([("first", with_gap)])
    series = Series.objects.get()
    before, n_sent = _state(series), len(hooks.sent)
    original = ingest._update_series_rows

    def update_then_fail(*args, **kwargs):
        original(*args, **kwargs)  # rows re-indexed and added...
        raise OSError("disk full")  # ...then the disk fills up before the folder moves

    monkeypatch.setattr(ingest, "_update_series_rows", update_then_fail)
    result = hooks.run([("second", series_28)])
    assert {row["reason"] for row in result.report} == {
        "storing the study failed (OSError); nothing of it was kept"
    }
    assert _state(series) == before and len(hooks.sent) == n_sent
