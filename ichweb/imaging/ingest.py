"""The one ingest service behind the three doors (browser upload, API, ``manage.py import_dicom``).

Per study, all accepted series are stored or none: files are written to a staging folder first, the rows are
created in one transaction, and the folders are moved into place before it commits. Re-importing the same
files finds the same pseudonymised UIDs and changes nothing.

Files that bring new instances of a series imported before (one was refused the first time, or arrived
late) complete it: the series is planned and checked again as a whole, its stored instances read back from
its de-identified originals, and rebuilt (volume, originals, spacing and gap checks) in a new folder. Its
Slice rows are kept, re-indexed where a new slice comes between them, so every row that points at a slice
(labels, bleeding points, predictions, ground truth) stays on the same image. All of it happens in the
study's transaction, and a completed series that fails a check changes nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ichweb.imaging.assemble import SAME_POSITION_MM, SeriesPlan, group_by_series, plan_series
from ichweb.imaging.dicom import CtSlice, Refusal, init_reader, read_ct_slice, read_job
from ichweb.imaging.models import ImportJob, Series, Slice, Study
from ichweb.imaging.signals import series_imported
from ichweb.imaging.sources import InputFile, Limits, expand

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
ACCEPTED, SKIPPED = "accepted", "skipped"
UNCHANGED = "already imported (unchanged)"


@dataclass
class ImportResult:
    report: list[dict[str, str]] = field(default_factory=list)
    studies: list[Study] = field(default_factory=list)

    def add(self, name: str, status: str, reason: str = "") -> None:
        self.report.append({"file": name, "status": status, "reason": reason})

    @property
    def n_accepted(self) -> int:
        return sum(row["status"] == ACCEPTED for row in self.report)


class SeriesChanged(Exception):
    """Another import changed the series this import completes, between planning and storing."""


@dataclass
class _Unit:
    """One series of a study in this import: what to store, and the files it accepts from this import."""

    series_uid: str
    study_uid: str
    files: list[str]
    #: The whole series to store; None for an imported series that this import leaves unchanged.
    plan: SeriesPlan | None
    #: The imported series that ``plan`` completes (None: a new series).
    known: Series | None = None
    known_sops: frozenset[str] = frozenset()
    #: This import's files that bring instances the imported series lacked.
    new_files: frozenset[str] = frozenset()

    def reason(self, name: str) -> str:
        """The report's reason for the accepted file ``name`` once the study is stored."""
        if self.plan is None:
            return UNCHANGED
        if self.known is None:
            return ""
        added = f"added {len(self.new_files)} instance(s), {len(self.plan.slices)} in all"
        if name in self.new_files:
            return f"added to the imported series: {added}"
        return f"already imported; the series was completed: {added}"


def limits_from_settings() -> Limits:
    return Limits(
        max_files=settings.IMPORT_MAX_FILES,
        max_unzipped_bytes=settings.IMPORT_MAX_UNZIPPED_BYTES,
        max_ratio=settings.IMPORT_MAX_ZIP_RATIO,
    )


def import_items(
    items: Iterable[tuple[str, Path]],
    *,
    user=None,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import (name, path) items (files, folders, zips); returns the per-file report and studies touched.

    Three passes: read and de-identify every file, plan each series (new or added to a stored one), then
    store each study in one transaction (a study is stored whole or not at all).
    """
    report = progress or (lambda fraction, message: None)
    result = ImportResult()
    with tempfile.TemporaryDirectory(prefix="ichweb-import-") as scratch:
        files, rejected = expand(items, Path(scratch), limits_from_settings())
        for r in rejected:
            result.add(r.name, SKIPPED, r.reason)
        accepted = _accepted_slices(files, Path(scratch) / "deid", result, report)
        by_study = _plan_studies(accepted, Path(scratch) / "stored", result)
        for n, (study_uid, units) in enumerate(by_study.items()):
            report(0.8 + 0.2 * n / len(by_study), f"storing study {n + 1} of {len(by_study)}")
            _store_and_report(study_uid, units, user, result)
    report(1.0, f"{result.n_accepted} of {len(result.report)} files accepted")
    return result


def _accepted_slices(
    files: list[InputFile], deid_dir: Path, result: ImportResult, report: ProgressFn
) -> list[tuple[str, CtSlice]]:
    """Every file read and de-identified; refusals and duplicate instances go to the report."""
    deid_dir.mkdir()
    accepted: list[tuple[str, CtSlice]] = []
    seen: dict[str, str] = {}
    for i, (item, parsed) in enumerate(_read_files(files, deid_dir)):
        if isinstance(parsed, Refusal):
            result.add(item.name, SKIPPED, parsed.text(item.name))
        elif parsed.original_sop_uid in seen:
            result.add(
                item.name,
                SKIPPED,
                f"duplicate instance: same SOP Instance UID as {seen[parsed.original_sop_uid]}",
            )
        else:
            seen[parsed.original_sop_uid] = item.name
            accepted.append((item.name, parsed))
        if i % 16 == 0 or i == len(files) - 1:
            report(0.8 * (i + 1) / max(1, len(files)), f"read {i + 1} of {len(files)} files")
    return accepted


def _plan_studies(
    accepted: list[tuple[str, CtSlice]], stored_dir: Path, result: ImportResult
) -> dict[str, list[_Unit]]:
    """The series to store, grouped by study; slices a plan refuses go to the report."""
    groups = group_by_series(accepted)
    stored = Series.objects.filter(series_uid__in=list(groups)).select_related("study")
    known = {s.series_uid: s for s in stored}
    stored_dir.mkdir()
    by_study: dict[str, list[_Unit]] = defaultdict(list)
    for uid, group in groups.items():
        if uid in known:
            unit, refused = _plan_known(known[uid], group, stored_dir)
        else:
            plan, refused = plan_series(group)
            unit = None
            if plan is not None:
                names = [name for name, _ in plan.slices]
                unit = _Unit(uid, plan.first.study_uid, names, plan)
        for name, reason in refused.items():
            result.add(name, SKIPPED, reason)
        if unit is not None:
            by_study[unit.study_uid].append(unit)
    return by_study


def _store_and_report(study_uid: str, units: list[_Unit], user: User | None, result: ImportResult) -> None:
    """Store one study; its files are reported accepted, or all refused when storing it failed."""
    try:
        study = _store_study(study_uid, units, user=user)
    except Exception as exc:
        log.exception("Import of study %s failed", study_uid)
        for unit in units:
            for name in unit.files:
                reason = f"storing the study failed ({type(exc).__name__}); nothing of it was kept"
                result.add(name, SKIPPED, reason)
        return
    result.studies.append(study)
    for unit in units:
        for name in unit.files:
            result.add(name, ACCEPTED, unit.reason(name))


#: Below this many files a process pool costs more than it saves.
POOL_MIN_FILES = 48


def _read_files(files: list[InputFile], deid_dir: Path) -> Iterator[tuple[InputFile, CtSlice | Refusal]]:
    """Read, check and de-identify every file, in input order; on several cores when it pays off.

    A daemonic process (a Celery prefork child) may not start children, so it reads in-process.
    """
    jobs = [(item.path, deid_dir / f"{i:06d}.dcm") for i, item in enumerate(files)]
    workers = min(settings.IMPORT_READ_PROCESSES, len(files) // (POOL_MIN_FILES // 2) or 1)
    if workers > 1 and not multiprocessing.current_process().daemon:
        # spawn, not fork: forking a process that already runs threads (torch, a threaded web server) can
        # deadlock the child. The children import only ichweb.imaging.dicom (no Django).
        context = multiprocessing.get_context("spawn")
        secret = (settings.DEID_SECRET,)
        with ProcessPoolExecutor(workers, context, initializer=init_reader, initargs=secret) as pool:
            yield from zip(files, pool.map(read_job, jobs, chunksize=8), strict=True)
        return
    init_reader(settings.DEID_SECRET)
    for item, job in zip(files, jobs, strict=True):
        yield item, read_job(job)


def _parse_date(value: str) -> date | None:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except (ValueError, IndexError):
        return None


def _plan_known(
    series: Series, group: list[tuple[str, CtSlice]], scratch: Path
) -> tuple[_Unit | None, dict[str, str]]:
    """Plan this import's files of an imported series: unchanged, or completed with the instances it lacked.

    The completed series is planned whole (its stored instances read back, then the new ones), so it passes
    the same checks as a new one; a new instance at the position of a stored one is refused as a duplicate,
    and a completed series that fails a check refuses this import's files and leaves the series as it is.
    """
    names = [name for name, _ in group]
    if group[0][1].study_uid != series.study.study_uid:
        return None, dict.fromkeys(names, "series UID already imported in another study: not imported")
    rows = list(series.slices.order_by("index").values_list("index", "sop_instance_uid"))
    known_sops = frozenset(sop for _, sop in rows)
    fresh = [(name, ct) for name, ct in group if ct.sop_uid not in known_sops]
    if not fresh:
        return _Unit(series.series_uid, series.study.study_uid, names, None, known=series), {}
    kept = f"not added to the imported series, which keeps its {len(rows)} instance(s)"
    stored, problem = _read_stored(series, rows, scratch)
    if problem:
        return None, dict.fromkeys(names, f"{kept}: {problem}")

    normal = stored[0][1].normal
    at = np.array([float(ct.position @ normal) for _, ct in stored])
    refused: dict[str, str] = {}
    for name, ct in fresh:
        where = float(ct.position @ normal)
        close = np.flatnonzero(np.abs(at - where) < SAME_POSITION_MM)
        if close.size:
            refused[name] = (
                f"duplicate slice: same position ({where:.2f} mm) as slice {int(close[0]) + 1} "
                "of the imported series"
            )
    fresh = [(name, ct) for name, ct in fresh if name not in refused]
    accepted = [name for name in names if name not in refused]
    if not fresh:
        return _Unit(series.series_uid, series.study.study_uid, accepted, None, known=series), refused

    plan, problems = plan_series(stored + fresh)
    stored_names = {name for name, _ in stored}
    if plan is None or stored_names & problems.keys():
        first = next(iter(problems.values()))
        return None, refused | {name: f"{kept}: {problems.get(name, first)}" for name in accepted}
    refused |= problems
    new_files = frozenset(name for name, _ in plan.slices if name not in stored_names)
    accepted = [name for name in accepted if name not in refused]
    if not new_files:
        return _Unit(series.series_uid, series.study.study_uid, accepted, None, known=series), refused
    unit = _Unit(
        series.series_uid,
        series.study.study_uid,
        accepted,
        plan,
        known=series,
        known_sops=known_sops,
        new_files=new_files,
    )
    return unit, refused


def _read_stored(
    series: Series, rows: list[tuple[int, str]], scratch: Path
) -> tuple[list[tuple[str, CtSlice]], str]:
    """The stored instances of ``series`` as slices to plan with (copies in ``scratch``), or a problem."""
    out: list[tuple[str, CtSlice]] = []
    for index, sop in rows:
        path = series.path / "dicom" / f"{index:04d}.dcm"
        if not path.is_file():
            return [], f"the stored copy of its slice {index + 1} is missing"
        ct = read_ct_slice(path, None, scratch / f"{series.pk}-{index:04d}.dcm")
        if isinstance(ct, Refusal) or ct.sop_uid != sop:
            return [], f"the stored copy of its slice {index + 1} cannot be read back"
        out.append((f"<imported slice {index + 1}>", ct))
    return out, ""


def _store_study(study_uid: str, units: list[_Unit], *, user) -> Study:
    """Write the new and the completed series of one study and their rows, all or nothing."""
    media = Path(settings.MEDIA_ROOT)
    staging = media / "staging" / uuid.uuid4().hex
    moved: list[Path] = []
    try:
        for unit in units:
            if unit.plan is not None:
                _write_series_files(unit.plan, staging / unit.series_uid)
        with transaction.atomic():
            study = _study_row(study_uid, units, user)
            new_ids: list[int] = []
            completed_ids: list[int] = []
            retired: list[Path] = []
            for unit in units:
                if unit.plan is None:
                    continue
                final = _series_rows(study, unit, media, new_ids, completed_ids, retired)
                final.parent.mkdir(parents=True, exist_ok=True)
                (staging / unit.series_uid).rename(final)
                moved.append(final)
            if retired:
                transaction.on_commit(partial(_remove_folders, retired))
            if new_ids or completed_ids:
                transaction.on_commit(
                    partial(
                        series_imported.send,
                        sender=Series,
                        series_ids=new_ids + completed_ids,
                        completed_ids=completed_ids,
                    )
                )
    except BaseException:
        for path in moved:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return study


def _study_row(study_uid: str, units: list[_Unit], user: User | None) -> Study:
    """The study's row: made from its first new series, or the stored one when only known series grow."""
    first = next((u.plan.first for u in units if u.plan is not None and u.known is None), None)
    if first is None:  # only series imported before: the study exists
        return Study.objects.get(study_uid=study_uid)
    study, _ = Study.objects.get_or_create(
        study_uid=study_uid,
        defaults={
            "patient_pseudo_id": first.patient_pseudo_id,
            "study_date": _parse_date(first.study_date),
            "description": first.study_description,
            "accession_pseudo": first.accession[:64],
            "imported_by": user,
        },
    )
    return study


def _series_rows(
    study: Study,
    unit: _Unit,
    media: Path,
    new_ids: list[int],
    completed_ids: list[int],
    retired: list[Path],
) -> Path:
    """Create (new series) or update under its row lock (a known one) the rows of ``unit``'s series.

    Returns the folder its staged files move to; a completed series gets a new folder, and its old one is
    added to ``retired`` (it serves readers until the commit).
    """
    assert unit.plan is not None
    if unit.known is None:
        final = media / "studies" / study.study_uid / unit.series_uid
        series = _create_series_rows(study, unit.plan, final.relative_to(media))
        if final.exists():  # left over by an import that failed after moving files
            shutil.rmtree(final)
        new_ids.append(series.pk)
        return final
    series = Series.objects.select_for_update().get(pk=unit.known.pk)
    if set(series.slices.values_list("sop_instance_uid", flat=True)) != unit.known_sops:
        raise SeriesChanged(f"series {series.pk} changed while this import read it")
    final = media / "studies" / study.study_uid / f"{unit.series_uid}-{uuid.uuid4().hex[:8]}"
    retired.append(series.path)
    _update_series_rows(series, unit.plan, final.relative_to(media))
    completed_ids.append(series.pk)
    return final


def _remove_folders(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _write_series_files(plan: SeriesPlan, folder: Path) -> None:
    (folder / "dicom").mkdir(parents=True)
    np.save(folder / "volume.npy", plan.volume())
    for index, (_, ct) in enumerate(plan.slices):
        ct.deid_path.rename(folder / "dicom" / f"{index:04d}.dcm")


def _create_series_rows(study: Study, plan: SeriesPlan, storage_dir: Path) -> Series:
    first = plan.first
    rows, columns = first.shape
    series = Series.objects.create(
        study=study,
        series_uid=first.series_uid,
        number=first.series_number,
        description=first.series_description,
        kind=Series.Kind.DENOISED if first.denoised else Series.Kind.STANDARD,
        manufacturer=first.manufacturer,
        rows=rows,
        columns=columns,
        n_slices=len(plan.slices),
        pixel_spacing_row=first.pixel_spacing[0],
        pixel_spacing_col=first.pixel_spacing[1],
        slice_spacing=plan.spacing,
        slice_thickness=first.slice_thickness,
        transfer_syntax=first.transfer_syntax,
        warnings=plan.warnings,
        storage_dir=storage_dir.as_posix(),
    )
    Slice.objects.bulk_create(_slice_row(series, plan, index) for index in range(len(plan.slices)))
    return series


def _slice_row(series: Series, plan: SeriesPlan, index: int) -> Slice:
    ct = plan.slices[index][1]
    return Slice(
        series=series,
        index=index,
        sop_instance_uid=ct.sop_uid,
        instance_number=ct.instance_number,
        position=float(plan.positions[index]),
        z=float(ct.position[2]),
    )


def _update_series_rows(series: Series, plan: SeriesPlan, storage_dir: Path) -> None:
    """Re-index the series' Slice rows along ``plan`` (same SOP Instance UID, same row) and add the new ones.

    The rows first move out of the way (index + an offset above every old and new index), so no statement
    ever holds two rows at one index, whichever order the database checks the unique constraint in.
    """
    rows = {row.sop_instance_uid: row for row in series.slices.all()}
    offset = len(rows) + len(plan.slices)
    Slice.objects.filter(series=series).update(index=F("index") + offset)
    moved: list[Slice] = []
    added: list[Slice] = []
    for index, (_, ct) in enumerate(plan.slices):
        row = rows.get(ct.sop_uid)
        if row is None:
            added.append(_slice_row(series, plan, index))
            continue
        row.index, row.position, row.z = index, float(plan.positions[index]), float(ct.position[2])
        moved.append(row)
    if len(moved) != len(rows):
        raise SeriesChanged(f"series {series.pk}: the completed series lacks some of its imported slices")
    Slice.objects.bulk_update(moved, ["index", "position", "z"])
    Slice.objects.bulk_create(added)
    series.n_slices = len(plan.slices)
    series.slice_spacing = plan.spacing
    series.warnings = plan.warnings
    series.storage_dir = storage_dir.as_posix()
    series.save(update_fields=["n_slices", "slice_spacing", "warnings", "storage_dir"])


# --- jobs: uploads waiting for a worker -------------------------------------------------------------------


def upload_root(job: ImportJob) -> Path:
    return Path(settings.MEDIA_ROOT) / job.upload_dir


def create_upload_job(named_files: list[tuple[str, UploadedFile]], *, user, source: str) -> ImportJob:
    """Save uploaded files (name as given, Django UploadedFile) for a job; the import runs later."""
    job = ImportJob.objects.create(created_by=user, source=source, upload_dir=f"uploads/{uuid.uuid4().hex}")
    root = upload_root(job)
    root.mkdir(parents=True)
    total = 0
    names: list[str] = []
    for i, (name, uploaded) in enumerate(named_files):
        target = root / f"{i:05d}"
        with target.open("wb") as out:
            for chunk in uploaded.chunks():
                out.write(chunk)
                total += len(chunk)
        names.append(name)
    (root / "names.txt").write_text("\n".join(names))
    job.n_files, job.n_bytes = len(names), total
    job.save(update_fields=["n_files", "n_bytes"])
    return job


def run_job(job_id: str) -> ImportJob:
    """Import the files of an upload job, reporting progress on the job row; safe to run twice."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        return job
    root = upload_root(job)
    job.status = ImportJob.Status.RUNNING
    job.save(update_fields=["status"])

    def progress(fraction: float, message: str) -> None:
        ImportJob.objects.filter(pk=job.pk).update(progress=round(fraction, 4), message=message[:500])

    try:
        names = (root / "names.txt").read_text().split("\n") if job.n_files else []
        items = [(name, root / f"{i:05d}") for i, name in enumerate(names)]
        result = import_items(items, user=job.created_by, progress=progress)
    except Exception as exc:
        log.exception("Import job %s failed", job.pk)
        job.status, job.message = (
            ImportJob.Status.FAILED,
            f"import failed ({type(exc).__name__}); nothing was stored",
        )
    else:
        job.status, job.report = ImportJob.Status.DONE, result.report
        job.message = f"{result.n_accepted} of {len(result.report)} files accepted"
        job.studies.set(result.studies)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    job.progress, job.finished_at = 1.0, timezone.now()
    job.save(update_fields=["status", "report", "message", "progress", "finished_at"])
    return job
