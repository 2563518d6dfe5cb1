"""Reading one DICOM file for ingest: checks with reasons, HU conversion, de-identification.

No Django here: ``read_ct_slice`` takes a path and a pseudonymiser and returns either a ``CtSlice`` or a
``Refusal`` whose reason is shown to the user next to the file's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from dicognito.anonymizer import Anonymizer
from pydicom.datadict import dictionary_VR
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag
from pydicom.uid import CTImageStorage, EnhancedCTImageStorage, MediaStorageDirectoryStorage

#: Lowest HU we keep: padding and outside-the-field values (-2000, -3024) become air.
HU_FLOOR = -1024
#: |cos| between the slice normal and the patient z axis above which a slice counts as axial (gantry tilt ok).
AXIAL_MIN_COS = 0.7


@dataclass(frozen=True)
class Refusal:
    reason: str


@dataclass
class CtSlice:
    """One accepted CT image, already de-identified (``dataset``) and converted to HU (``hu``)."""

    original_sop_uid: str
    original_series_uid: str
    study_uid: str
    series_uid: str
    sop_uid: str
    patient_pseudo_id: str
    study_date: str
    study_description: str
    accession: str
    series_number: int | None
    series_description: str
    manufacturer: str
    instance_number: int | None
    position: np.ndarray  # ImagePositionPatient, mm
    orientation: np.ndarray  # ImageOrientationPatient (6,)
    pixel_spacing: tuple[float, float]
    slice_thickness: float | None
    transfer_syntax: str
    denoised: bool
    hu: np.ndarray = field(repr=False)
    #: Where the de-identified copy of the file was written.
    deid_path: Path = field(repr=False)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])

    @property
    def shape(self) -> tuple[int, int]:
        return self.hu.shape  # type: ignore[return-value]


def make_pseudonymiser(secret: str) -> Anonymizer:
    """A DICOM PS3.15 basic-profile de-identifier seeded by the site secret (dicognito).

    The same seed maps the same patient ID, UID or name to the same pseudonym, so re-imports are idempotent
    and a patient's studies stay together for patient-level splits.
    """
    return Anonymizer(id_prefix="ICH", seed=secret)


def pseudonymise_uid(uid: str, pseudonymiser: Anonymizer) -> str:
    """The UID that ingest gives an original UID on this site (labels keyed by original UIDs can follow)."""
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.SOPInstanceUID = uid
    pseudonymiser.anonymize(ds)
    return str(ds.SOPInstanceUID)


def _float_list(value: object, n: int) -> np.ndarray | None:
    try:
        out = np.array([float(v) for v in value], dtype=np.float64)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return out if out.shape == (n,) else None


def to_hu(ds: pydicom.Dataset, pixels: np.ndarray) -> np.ndarray:
    """Stored values -> Hounsfield units (int16): HU = stored * RescaleSlope + RescaleIntercept.

    Pixels equal to PixelPaddingValue (or inside [PixelPaddingValue, PixelPaddingRangeLimit]) and anything
    below -1024 HU become -1024 (air).
    """
    slope = float(ds.RescaleSlope)
    intercept = float(ds.RescaleIntercept)
    if slope == 1.0 and intercept.is_integer():
        hu = pixels.astype(np.int32)
        hu += int(intercept)
    else:
        hu = np.rint(pixels.astype(np.float32) * slope + intercept).astype(np.int32)
    padding = ds.get("PixelPaddingValue")
    if padding is not None:
        limit = ds.get("PixelPaddingRangeLimit")
        if limit is None:
            hu[pixels == padding] = HU_FLOOR
        else:
            lo, hi = sorted((int(padding), int(limit)))
            hu[(pixels >= lo) & (pixels <= hi)] = HU_FLOOR
    np.clip(hu, HU_FLOOR, np.iinfo(np.int16).max, out=hu)
    return hu.astype(np.int16)


def _vr(ds: pydicom.Dataset, tag: BaseTag) -> str | None:
    raw = ds.get_item(tag)
    if raw is not None and raw.VR is not None:
        return str(raw.VR)
    try:  # implicit VR files carry no VR: ask the dictionary
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def remove_private_tags(ds: pydicom.Dataset) -> None:
    """Drop private elements at every level (PS3.15 basic profile), without converting the public ones."""
    for tag in [tag for tag in ds.keys() if tag.is_private]:  # noqa: SIM118 -- iterating ds converts values
        del ds[tag]
    for tag in list(ds.keys()):
        if _vr(ds, tag) == "SQ":
            for item in ds[tag].value:
                remove_private_tags(item)


def read_ct_slice(path: Path, pseudonymiser: Anonymizer, deid_path: Path) -> CtSlice | Refusal:
    """Read, check, convert and de-identify one file, writing the de-identified copy to ``deid_path``.

    Nothing is written for a refused file; the reason of a refusal says what to do.
    """
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        return Refusal("not a DICOM file (no DICM marker): upload CT images exported from PACS as .dcm files")
    except (EOFError, OSError, ValueError, KeyError) as exc:
        return Refusal(f"unreadable or truncated DICOM header ({type(exc).__name__}): export the file again")
    meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or getattr(meta, "MediaStorageSOPClassUID", None)
    if sop_class == MediaStorageDirectoryStorage:
        return Refusal("DICOMDIR index file: ignored (the images it lists are imported from their own files)")
    modality = str(ds.get("Modality", "") or "")
    if modality != "CT":
        return Refusal(f"modality {modality or 'missing'}: only CT images are accepted")
    if sop_class == EnhancedCTImageStorage:
        return Refusal("Enhanced CT (multi-frame) is not supported yet: export as classic CT Image Storage")
    if sop_class not in (CTImageStorage, None):
        return Refusal(f"SOP class {getattr(sop_class, 'name', sop_class)} is not a CT image")
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if "LOCALIZER" in image_type or "SCOUT" in image_type:
        return Refusal("scout/localizer image: only axial slices are imported")
    if str(ds.get("BurnedInAnnotation", "NO")).upper() == "YES":
        return Refusal("burned-in annotation: the pixels may identify the patient, so the file is refused")
    if "PixelData" not in ds:
        return Refusal("no pixel data in the file")
    missing = [tag for tag in ("RescaleSlope", "RescaleIntercept") if ds.get(tag) in (None, "")]
    if missing:
        return Refusal(
            f"missing {' and '.join(missing)}: stored values cannot be converted to Hounsfield units"
        )
    position = _float_list(ds.get("ImagePositionPatient"), 3)
    orientation = _float_list(ds.get("ImageOrientationPatient"), 6)
    spacing = _float_list(ds.get("PixelSpacing"), 2)
    if position is None or orientation is None or spacing is None:
        return Refusal(
            "missing ImagePositionPatient, ImageOrientationPatient or PixelSpacing: cannot place it"
        )
    normal = np.cross(orientation[:3], orientation[3:])
    if abs(normal[2]) < AXIAL_MIN_COS:
        return Refusal("not an axial slice (the slice normal is far from the head-foot axis)")
    if int(ds.get("SamplesPerPixel", 1)) != 1 or int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return Refusal("not a single-frame greyscale image")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # decoders raise many types for truncated or corrupt pixel data
        return Refusal(f"pixel data cannot be decoded ({type(exc).__name__}: {str(exc)[:120]})")
    if pixels.ndim != 2:
        return Refusal(f"unexpected pixel array shape {pixels.shape}")
    hu = to_hu(ds, pixels)

    original_sop, original_series = str(ds.SOPInstanceUID), str(ds.get("SeriesInstanceUID", ""))
    transfer_syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    denoised = "DENOIS" in str(ds.get("SeriesDescription", "")).upper()
    remove_private_tags(ds)
    pseudonymiser.anonymize(ds)
    ds.PatientIdentityRemoved = "YES"
    ds.save_as(deid_path, enforce_file_format=True)
    return CtSlice(
        original_sop_uid=original_sop,
        original_series_uid=original_series,
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID),
        patient_pseudo_id=str(ds.get("PatientID", "")),
        study_date=str(ds.get("StudyDate", "")),
        study_description=str(ds.get("StudyDescription", ""))[:200],
        accession=str(ds.get("AccessionNumber", "")),
        series_number=_int_or_none(ds.get("SeriesNumber")),
        series_description=str(ds.get("SeriesDescription", ""))[:200],
        manufacturer=str(ds.get("Manufacturer", ""))[:100],
        instance_number=_int_or_none(ds.get("InstanceNumber")),
        position=position,
        orientation=orientation,
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        slice_thickness=_float_or_none(ds.get("SliceThickness")),
        transfer_syntax=transfer_syntax,
        denoised=denoised,
        hu=hu,
        deid_path=deid_path,
    )


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _float_or_none(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


# --- process-pool entry points (module level, so spawned workers can import them without Django) ----------

_reader_pseudonymiser: Anonymizer | None = None


def init_reader(secret: str) -> None:
    """Build this process's pseudonymiser once (the seed makes every process map identically)."""
    global _reader_pseudonymiser
    _reader_pseudonymiser = make_pseudonymiser(secret)


def read_job(job: tuple[Path, Path]) -> CtSlice | Refusal:
    """``read_ct_slice`` for (source path, de-identified copy path), after ``init_reader``."""
    assert _reader_pseudonymiser is not None, "call init_reader first"
    return read_ct_slice(job[0], _reader_pseudonymiser, job[1])
