"""What the DICOM exports read from the store: the stored instances of a series, and the exports' UIDs.

An export references the **stored, de-identified** instances (``ichweb.interop.headers.instance_path``), the
ones DICOMweb serves, so a viewer that loaded the series from ICHweb finds every referenced image.
"""

from __future__ import annotations

import pydicom
from highdicom import sr
from pydicom.uid import generate_uid

from ichweb.imaging.models import Series
from ichweb.interop.headers import instance_path


class NotExportable(Exception):
    """Nothing to export (no ground truth, an unfinished job, a missing file): the message says what to do."""


def headers_of(series: Series, *, pixels: bool = False) -> dict[str, pydicom.Dataset]:
    """The stored instances of ``series`` by SOP Instance UID, in slice order (without pixels by default)."""
    out: dict[str, pydicom.Dataset] = {}
    for item in series.slices.select_related("series").order_by("index"):
        path = instance_path(item)
        if not path.is_file():
            raise NotExportable(
                f"the stored file of slice {item.index} of series {series.pk} is missing ({path.name}): "
                "import the study again"
            )
        out[item.sop_instance_uid] = pydicom.dcmread(path, stop_before_pixels=not pixels)
    return out


def headers(series: Series) -> dict[str, pydicom.Dataset]:
    """``headers_of(series)`` without pixels: what an SR needs of its evidence."""
    return headers_of(series)


def for_group(ds: pydicom.Dataset) -> sr.SourceImageForMeasurementGroup:
    return sr.SourceImageForMeasurementGroup(
        referenced_sop_class_uid=ds.SOPClassUID, referenced_sop_instance_uid=ds.SOPInstanceUID
    )


def for_region(ds: pydicom.Dataset) -> sr.SourceImageForRegion:
    return sr.SourceImageForRegion(
        referenced_sop_class_uid=ds.SOPClassUID, referenced_sop_instance_uid=ds.SOPInstanceUID
    )


def uid(*parts: object) -> str:
    """A UID derived from ``parts`` (the same export of the same rows gets the same UID on every download)."""
    return str(generate_uid(entropy_srcs=["ichweb-export", *(str(p) for p in parts)]))
