"""STOW-RS (PS3.18 10.5): store instances sent as ``multipart/related; type="application/dicom"``.

The request is judged whole before anything is imported: a body that does not keep to its boundary, or a
part that is not ``application/dicom``, refuses the whole request (400, nothing stored). The instances then
go through the one ingest service (``ichweb.imaging.ingest``: checked, de-identified, stored whole per
study) as an import job, which leads find among the import jobs. The answer lists each instance:

* stored: in ReferencedSOPSequence under its **new** (de-identified) UIDs, with its RetrieveURL and
  WarningReason B000 (coercion: de-identification changed attributes);
* refused: in FailedSOPSequence under the UIDs it was sent with, with a FailureReason (C000 not readable
  as DICOM, A900 not a CT image this site stores or not of the study in the URL, 0110 refused by the
  import) and the reason in ErrorComment.

Status 200 when every instance was stored, 202 when some were, 409 when none was.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from rest_framework.exceptions import UnsupportedMediaType

from ichweb.errors import RuleError
from ichweb.imaging import ingest
from ichweb.imaging.models import ImportJob
from ichweb.interop import multipart, pseudonyms, screen
from ichweb.interop.dicomjson import Json, check_uid, element

NOT_DICOM, NOT_STORED_HERE, PROCESSING_FAILURE, COERCED = 0xC000, 0xA900, 0x0110, 0xB000
REFERENCED, FAILED, FAILURE_REASON, WARNING_REASON = 0x00081199, 0x00081198, 0x00081197, 0x00081196
SOP_CLASS, SOP_INSTANCE, RETRIEVE_URL, ERROR_COMMENT = 0x00081150, 0x00081155, 0x00081190, 0x00000902
BOUNDARY_MAX = 70


@dataclass
class Instance:
    """One DICOM part: its original UIDs, as sent."""

    name: str
    path: Path
    sop_class: str
    sop_uid: str
    study_uid: str
    series_uid: str


@dataclass
class Outcome:
    """The answer: HTTP status and the DICOM JSON body; ``n_stored`` for the audit."""

    status: int
    body: Json
    n_stored: int


def boundary_of(content_type: str) -> str:
    """The boundary of a STOW-RS Content-Type.

    Raises:
        UnsupportedMediaType: not ``multipart/related`` of ``application/dicom`` (415).
        RuleError: no usable boundary parameter (400, on ``boundary``).
    """
    media = multipart.parse_media_type(content_type or "")
    part_type = media.params.get("type", "application/dicom").lower()
    if media.type != "multipart/related" or part_type != "application/dicom":
        raise UnsupportedMediaType(
            content_type or "(none)",
            detail='send instances as multipart/related; type="application/dicom"; boundary=...',
        )
    boundary = media.params.get("boundary", "")
    if not 0 < len(boundary) <= BOUNDARY_MAX or boundary.endswith(" "):
        raise RuleError(
            "the Content-Type has no usable boundary parameter (1 to 70 characters, RFC 2046)",
            field="boundary",
        )
    return boundary


def _check_types(parts: list[multipart.ReceivedPart]) -> None:
    for part in parts:
        media = part.content_type
        if media is not None and media.type != "application/dicom":
            raise RuleError(
                f"part {part.index} is {media.type}, not application/dicom: send only DICOM instances "
                "(nothing of this request was stored)",
                field="body",
            )


def _failed_item(sop_class: str, sop_uid: str, code: int, reason: str) -> Json:
    return dict(
        [
            element(SOP_CLASS, [sop_class], "UI"),
            element(SOP_INSTANCE, [sop_uid], "UI"),
            element(FAILURE_REASON, [code], "US"),
            element(ERROR_COMMENT, [reason], "LO"),
        ]
    )


def _screen(parts: list[multipart.ReceivedPart], study_uid: str | None) -> tuple[list[Instance], list[Json]]:
    """The parts worth importing, and failure items for those that are not."""
    accepted: list[Instance] = []
    failed: list[Json] = []
    for part in parts:
        try:
            ds = pydicom.dcmread(part.path, stop_before_pixels=True)
        except Exception:
            reason = f"part {part.index} is not a DICOM file (PS3.10 format, with the DICM preamble)"
            failed.append(_failed_item("", "", NOT_DICOM, reason))
            continue
        sop_class, sop_uid = str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))
        study = str(ds.get("StudyInstanceUID", ""))
        refusal = screen.refusal(ds)
        if refusal is None and study_uid is not None and study_uid not in (study, pseudonyms.uid(study)):
            refusal = f"the instance belongs to study {study}, not to the study {study_uid} of the URL"
        if refusal is not None:
            failed.append(_failed_item(sop_class, sop_uid, NOT_STORED_HERE, refusal))
            continue
        name = f"part-{part.index:05d}.dcm"
        series = str(ds.get("SeriesInstanceUID", ""))
        accepted.append(Instance(name, part.path, sop_class, sop_uid, study, series))
    return accepted, failed


def _ingest(accepted: list[Instance], user: Any) -> dict[str, dict[str, str]]:
    """Import the instances as one job; the report row of each (by name)."""
    with ExitStack() as stack:
        files = [
            (item.name, UploadedFile(stack.enter_context(item.path.open("rb")), name=item.name))
            for item in accepted
        ]
        job = ingest.create_upload_job(files, user=user, source=ImportJob.Source.API)
    job = ingest.run_job(str(job.pk))
    if job.status != ImportJob.Status.DONE:
        return {item.name: {"status": "skipped", "reason": job.message} for item in accepted}
    return {row["file"]: row for row in job.report}


def _referenced_item(item: Instance, base: str) -> tuple[Json, str]:
    study, series, sop = (pseudonyms.uid(u) for u in (item.study_uid, item.series_uid, item.sop_uid))
    item_json = dict(
        [
            element(SOP_CLASS, [item.sop_class], "UI"),
            element(SOP_INSTANCE, [sop], "UI"),
            element(RETRIEVE_URL, [f"{base}/studies/{study}/series/{series}/instances/{sop}"], "UR"),
            element(WARNING_REASON, [COERCED], "US"),
        ]
    )
    return item_json, study


def store(
    body: BinaryIO, content_type: str, *, user: Any, base: str, study_uid: str | None = None
) -> Outcome:
    """Store the instances of a STOW-RS request body through ingest; see the module docstring.

    Raises:
        UnsupportedMediaType, RuleError: a request that is refused whole (nothing stored).
        UploadTooLarge: the body passed ``ICHWEB_STOW_MAX_BYTES`` while it was read.
    """
    if study_uid is not None:
        check_uid(study_uid, "study")
    boundary = boundary_of(content_type)
    with tempfile.TemporaryDirectory(prefix="ichweb-stow-") as scratch:
        parts = multipart.read_parts(
            body,
            boundary,
            Path(scratch),
            limit=settings.ICHWEB_STOW_MAX_BYTES,
            setting="ICHWEB_STOW_MAX_BYTES",
        )
        _check_types(parts)
        accepted, failed = _screen(parts, study_uid)
        report = _ingest(accepted, user) if accepted else {}
    referenced: list[Json] = []
    studies: set[str] = set()
    for item in accepted:
        row = report.get(item.name, {"status": "skipped", "reason": "the import did not report it"})
        if row["status"] == ingest.ACCEPTED:
            item_json, study = _referenced_item(item, base)
            referenced.append(item_json)
            studies.add(study)
        else:
            failed.append(_failed_item(item.sop_class, item.sop_uid, PROCESSING_FAILURE, row["reason"]))
    out: Json = {}
    if len(studies) == 1:
        key, value = element(RETRIEVE_URL, [f"{base}/studies/{studies.pop()}"], "UR")
        out[key] = value
    if referenced:
        out[f"{REFERENCED:08X}"] = {"vr": "SQ", "Value": referenced}
    if failed:
        out[f"{FAILED:08X}"] = {"vr": "SQ", "Value": failed}
    status = 409 if not referenced else 202 if failed else 200
    return Outcome(status, out, len(referenced))
