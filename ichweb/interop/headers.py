"""Attributes read from the stored, de-identified DICOM files: the study index and ``includefield`` extras.

The database holds what ingest needs; a search may ask for more (the patient name, a series' body part, any
attribute of an instance). ``ensure`` reads the first instance of every study not indexed yet into a
``StudyHeader`` (once per study); ``file_attributes`` reads what one result needs from its files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from ichweb.imaging.models import Series, Slice, Study
from ichweb.interop import dicomjson
from ichweb.interop.dicomjson import Json
from ichweb.interop.models import StudyHeader

log = logging.getLogger(__name__)

#: The attributes of the patient and study modules (PS3.3 C.7.1.1, C.7.2.1, C.7.2.2) kept per study.
STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "OtherPatientIDsSequence",
    "EthnicGroup",
    "PatientComments",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "TimezoneOffsetFromUTC",
)
STUDY_TAGS = {t for t in (dicomjson.parse_tag(k) for k in STUDY_KEYWORDS) if t is not None}


def instance_path(item: Slice) -> Path:
    """The stored, de-identified file of a slice (``<series folder>/dicom/<index>.dcm``, as ingest writes)."""
    return item.series.path / "dicom" / f"{item.index:04d}.dcm"


def _time(value: str) -> str:
    digits = value.split(".")[0].replace(":", "")
    return digits[:6].ljust(6, "0") if digits.isdigit() else ""


def _header_row(study: Study) -> StudyHeader:
    first = Slice.objects.filter(series__study=study).select_related("series").order_by("series_id", "index")
    item = first.first()
    attributes: Json = {}
    if item is not None:
        try:
            ds = dicomjson.read_header(instance_path(item))
            attributes = dicomjson.pick(dicomjson.dataset_json(ds), STUDY_TAGS)
        except Exception:  # a missing or unreadable file: index what the database has, say so in the log
            log.exception("study %s: the header of its first instance cannot be read", study.study_uid)

    def text(tag: str) -> str:
        return str(dicomjson.first_value(attributes, int(tag, 16)))

    return StudyHeader(
        study=study,
        patient_name=text("00100010")[:200],
        referring_physician=text("00080090")[:200],
        study_number=text("00200010")[:64],
        study_time=_time(text("00080030")),
        attributes=attributes,
    )


def ensure(studies: QuerySet[Study] | None = None) -> int:
    """Index every study that has no ``StudyHeader`` yet; returns how many were added.

    Two searches indexing at once both try; the second insert of a study is ignored.
    """
    missing = (studies if studies is not None else Study.objects.all()).filter(dicom_header__isnull=True)
    rows = [_header_row(study) for study in missing]
    if rows:
        StudyHeader.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def of(study: Study) -> StudyHeader:
    """The study's header row (an empty one when it could not be made). A study whose first file could not
    be read is indexed with what the database holds and not read again (the log says which)."""
    try:
        return study.dicom_header
    except StudyHeader.DoesNotExist:
        return StudyHeader(study=study)


def file_attributes(level: str, row: Any) -> Json:
    """Everything the files say about one result: the study index, or the header of the series' first
    instance, or of the instance itself (without pixel data)."""
    if level == "study":
        return dict(of(row).attributes)
    try:
        if level == "series":
            series: Series = row
            first = series.slices.select_related("series").order_by("index").first()
            if first is None:
                return {}
            return dicomjson.dataset_json(dicomjson.read_header(instance_path(first)))
        return dicomjson.dataset_json(dicomjson.read_header(instance_path(row)))
    except Exception:
        log.exception("the stored file of a %s result cannot be read", level)
        return {}
