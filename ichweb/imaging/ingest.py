"""The one ingest service behind the three doors (browser upload, API, ``manage.py import_dicom``).

Per study, all accepted series are stored or none: files are written to a staging folder first, the rows are
created in one transaction, and the folders are moved into place before it commits. Re-importing the same
files finds the same pseudonymised UIDs and changes nothing.
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

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ichweb.imaging.assemble import SeriesPlan, group_by_series, plan_series
from ichweb.imaging.dicom import CtSlice, Refusal, init_reader, read_job
from ichweb.imaging.models import ImportJob, Series, Slice, Study
from ichweb.imaging.signals import series_imported
from ichweb.imaging.sources import InputFile, Limits, expand

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
ACCEPTED, SKIPPED = "accepted", "skipped"


@dataclass
class ImportResult:
    report: list[dict[str, str]] = field(default_factory=list)
    studies: list[Study] = field(default_factory=list)

    def add(self, name: str, status: str, reason: str = "") -> None:
        self.report.append({"file": name, "status": status, "reason": reason})

    @property
    def n_accepted(self) -> int:
        return sum(row["status"] == ACCEPTED for row in self.report)


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
    """Import (name, path) items (files, folders, zips); returns the per-file report and studies touched."""
    report = progress or (lambda fraction, message: None)
    result = ImportResult()
    with tempfile.TemporaryDirectory(prefix="ichweb-import-") as scratch:
        files, rejected = expand(items, Path(scratch), limits_from_settings())
        for r in rejected:
            result.add(r.name, SKIPPED, r.reason)
        accepted: list[tuple[str, CtSlice]] = []
        seen: dict[str, str] = {}
        deid_dir = Path(scratch) / "deid"
        deid_dir.mkdir()
        for i, (item, parsed) in enumerate(_read_files(files, deid_dir)):
            if isinstance(parsed, Refusal):
                result.add(item.name, SKIPPED, parsed.reason)
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

        by_study: dict[str, list[SeriesPlan]] = defaultdict(list)
        for group in group_by_series(accepted).values():
            plan, refused = plan_series(group)
            for name, reason in refused.items():
                result.add(name, SKIPPED, reason)
            if plan is not None:
                by_study[plan.first.study_uid].append(plan)

        for n, (study_uid, plans) in enumerate(by_study.items()):
            report(0.8 + 0.2 * n / len(by_study), f"storing study {n + 1} of {len(by_study)}")
            try:
                study, statuses = _store_study(study_uid, plans, user=user)
            except Exception as exc:
                log.exception("Import of study %s failed", study_uid)
                for plan in plans:
                    for name, _ in plan.slices:
                        result.add(
                            name,
                            SKIPPED,
                            f"storing the study failed ({type(exc).__name__}); nothing of it was kept",
                        )
                continue
            result.studies.append(study)
            for plan in plans:
                reason = statuses[plan.first.series_uid]
                for name, _ in plan.slices:
                    result.add(name, ACCEPTED, reason)
    report(1.0, f"{result.n_accepted} of {len(result.report)} files accepted")
    return result


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


def _store_study(study_uid: str, plans: list[SeriesPlan], *, user) -> tuple[Study, dict[str, str]]:
    """Write the new series of one study and their rows, all or nothing; known series are left as they are."""
    media = Path(settings.MEDIA_ROOT)
    existing = set(
        Series.objects.filter(series_uid__in=[p.first.series_uid for p in plans]).values_list(
            "series_uid", flat=True
        )
    )
    statuses = {uid: "already imported (unchanged)" for uid in existing}
    new = [p for p in plans if p.first.series_uid not in existing]
    staging = media / "staging" / uuid.uuid4().hex
    moved: list[Path] = []
    try:
        for plan in new:
            _write_series_files(plan, staging / plan.first.series_uid)
        with transaction.atomic():
            first = plans[0].first
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
            for plan in new:
                final = media / "studies" / study_uid / plan.first.series_uid
                _create_series_rows(study, plan, final.relative_to(media))
                if final.exists():  # left over by an import that failed after moving files
                    shutil.rmtree(final)
                final.parent.mkdir(parents=True, exist_ok=True)
                (staging / plan.first.series_uid).rename(final)
                moved.append(final)
                statuses[plan.first.series_uid] = ""
            new_ids = list(
                study.series.filter(series_uid__in=[p.first.series_uid for p in new]).values_list(
                    "pk", flat=True
                )
            )
            if new_ids:
                transaction.on_commit(partial(series_imported.send, sender=Series, series_ids=new_ids))
    except BaseException:
        for path in moved:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return study, statuses


def _write_series_files(plan: SeriesPlan, folder: Path) -> None:
    import numpy as np

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
    Slice.objects.bulk_create(
        Slice(
            series=series,
            index=index,
            sop_instance_uid=ct.sop_uid,
            instance_number=ct.instance_number,
            position=float(plan.positions[index]),
            z=float(ct.position[2]),
        )
        for index, (_, ct) in enumerate(plan.slices)
    )
    return series


# --- jobs: uploads waiting for a worker -------------------------------------------------------------------


def upload_root(job: ImportJob) -> Path:
    return Path(settings.MEDIA_ROOT) / job.upload_dir


def create_upload_job(named_files: list[tuple[str, object]], *, user, source: str) -> ImportJob:
    """Save uploaded files (name as given, Django UploadedFile) for a job; the import runs later."""
    job = ImportJob.objects.create(created_by=user, source=source, upload_dir=f"uploads/{uuid.uuid4().hex}")
    root = upload_root(job)
    root.mkdir(parents=True)
    total = 0
    names: list[str] = []
    for i, (name, uploaded) in enumerate(named_files):
        target = root / f"{i:05d}"
        with target.open("wb") as out:
            for chunk in uploaded.chunks():  # type: ignore[attr-defined]
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
