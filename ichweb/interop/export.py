"""The DICOM exports by name: what each one is built from, its file name, and its bytes (PS3.10 files).

Three exports, each a new series in the study of its source series (docs/interop.md, "Export"):

* ``ground-truth``: the ground truth of a series, a Comprehensive 3D SR (``ichweb.interop.sr``);
* ``findings``: an inference job's findings, a Comprehensive 3D SR;
* ``seg``: an inference job's attention segmentations, a Segmentation (``ichweb.interop.seg``).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset

from ichweb.imaging.models import Series
from ichweb.interop import codes, seg, sr
from ichweb.interop.sources import NotExportable
from ichweb.modeling.models import InferenceJob

GROUND_TRUTH = "ground-truth"
FINDINGS = "findings"
SEG = "seg"
#: Export kind -> what its id names ("series" or "job").
KINDS: dict[str, str] = {GROUND_TRUTH: "series", FINDINGS: "job", SEG: "job"}

__all__ = ["FINDINGS", "GROUND_TRUTH", "KINDS", "SEG", "Exported", "NotExportable", "build"]


@dataclass(frozen=True)
class Exported:
    """One built export: the dataset, its PS3.10 bytes and a file name for a download."""

    dataset: pydicom.Dataset
    data: bytes
    filename: str

    @property
    def study_uid(self) -> str:
        return str(self.dataset.StudyInstanceUID)


def _declare_private_scheme(ds: pydicom.Dataset) -> None:
    """Name ICHweb's private coding scheme in the Coding Scheme Identification Sequence (PS3.3 C.12.1.1.4)."""
    item = Dataset()
    item.CodingSchemeDesignator = codes.SCHEME
    item.CodingSchemeName = "ICHweb local codes"
    item.CodingSchemeResponsibleOrganization = "ICHweb"
    ds.CodingSchemeIdentificationSequence = [item]


def _encode(ds: pydicom.Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def build(kind: str, object_id: int) -> Exported:
    """Build export ``kind`` of series or job ``object_id``.

    Raises ``NotExportable`` (with what to do) when there is nothing to export, ``ValueError`` for an unknown
    kind, ``Series.DoesNotExist``/``InferenceJob.DoesNotExist`` for an unknown id.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}: use one of {', '.join(KINDS)}")
    if kind == GROUND_TRUTH:
        series = Series.objects.select_related("study").get(pk=object_id)
        ds = sr.ground_truth_sr(series)
        name = f"series-{series.pk}-ground-truth.dcm"
    else:
        job = InferenceJob.objects.select_related("series", "model_version").get(pk=object_id)
        ds = sr.findings_sr(job) if kind == FINDINGS else seg.attention_seg(job)
        name = f"job-{job.pk}-{kind}.dcm"
    _declare_private_scheme(ds)
    return Exported(dataset=ds, data=_encode(ds), filename=name)
