"""Reading one DICOM file for ingest: checks with reasons, HU conversion, de-identification.

No Django here: ``read_ct_slice`` takes a path and a pseudonymiser and returns either a ``CtSlice`` or a
``Refusal`` whose reason is shown to the user next to the file's name (``Refusal.text``).

A file that ends early (an interrupted copy or transfer) is told apart from a damaged or foreign one by
``find_truncation``, which walks the file's element headers and says where the bytes ran out.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pydicom
from dicognito.anonymizer import Anonymizer
from pydicom.datadict import dictionary_description, dictionary_VR
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    EnhancedCTImageStorage,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)

#: Lowest HU we keep: padding and outside-the-field values (-2000, -3024) become air.
HU_FLOOR = -1024
#: |cos| between the slice normal and the patient z axis above which a slice counts as axial (gantry tilt ok).
AXIAL_MIN_COS = 0.7


#: What to do about a file that ends early or cannot be read: it has to come again from where it came from.
REMEDY = "copy it again from the source or re-export it from the PACS"
#: Longest part of a decoder's own message quoted in a reason (cut at a word, never mid-word).
QUOTE_MAX_CHARS = 160


@dataclass(frozen=True)
class Refusal:
    """Why a file is not imported. ``reason`` is a short phrase, or with ``sentence`` a whole sentence
    (what is wrong, that the file was not imported, what to do) that ``text`` puts after the file's name."""

    reason: str
    sentence: bool = False

    def text(self, name: str) -> str:
        """The reason as the import report shows it next to the file ``name`` (a path as given)."""
        return f"{PurePosixPath(name).name or name}: {self.reason}" if self.sentence else self.reason


def _sentence(what: str, remedy: str = REMEDY) -> Refusal:
    return Refusal(f"{what}; it was not imported — {remedy}.", sentence=True)


def _quote(message: str, limit: int = QUOTE_MAX_CHARS) -> str:
    """A decoder's message on one line, at most ``limit`` characters, shortened at a word with an ellipsis."""
    text = " ".join(str(message).split()).rstrip(" .;:")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-(") + "…"


# --- truncated files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Truncation:
    """Where a file ran out of bytes: ``size`` bytes in the file, while reading ``where``; ``needed``: the
    file size the element being read requires, when its length says so."""

    size: int
    where: str
    needed: int | None = None

    def refusal(self) -> Refusal:
        of = f" of at least {self.needed:,}" if self.needed else ""
        return _sentence(
            f"the file ends early (truncated at byte {self.size:,}{of} while reading {self.where})"
        )


class _Short(Exception):
    """The bytes ran out; ``needed``: the size the current element asks for, if known."""

    def __init__(self, needed: int | None = None) -> None:
        super().__init__(needed)
        self.needed = needed


class _Malformed(Exception):
    """Not a structure the walker understands: say nothing about truncation."""


UNDEFINED_LENGTH = 0xFFFFFFFF
#: VRs whose explicit-VR header has 2 reserved bytes and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_PREAMBLE = 128


class _Walker:
    """Walks DICOM element headers (not values) to the end of the bytes; raises ``_Short`` where they end."""

    def __init__(self, data: bytes, implicit: bool, little: bool) -> None:
        self.data, self.implicit = data, implicit
        self.u16, self.u32 = ("<H", "<I") if little else (">H", ">I")

    def _take(self, pos: int, n: int) -> bytes:
        if pos + n > len(self.data):
            raise _Short()
        return self.data[pos : pos + n]

    def tag(self, pos: int) -> int:
        raw = self._take(pos, 4)
        group, element = struct.unpack(self.u16, raw[:2])[0], struct.unpack(self.u16, raw[2:])[0]
        return group << 16 | element

    def header(self, pos: int) -> tuple[int, bytes | None, int, int]:
        """(tag, VR or None, value length, where the value starts) of the element at ``pos``."""
        tag = self.tag(pos)
        if tag >> 16 == 0xFFFE or self.implicit:  # items and delimiters carry no VR
            return tag, None, struct.unpack(self.u32, self._take(pos + 4, 4))[0], pos + 8
        vr = self._take(pos + 4, 2)
        if not (vr.isalpha() and vr.isupper()):
            raise _Malformed(f"no VR at byte {pos + 4}")
        if vr in _LONG_VRS:
            return tag, vr, struct.unpack(self.u32, self._take(pos + 8, 4))[0], pos + 12
        return tag, vr, struct.unpack(self.u16, self._take(pos + 6, 2))[0], pos + 8

    def skip(self, start: int, length: int) -> int:
        end = start + length
        if end > len(self.data):
            raise _Short(end)
        return end

    def element(self, pos: int) -> int:
        """The position after the element at ``pos`` (its items and their elements walked)."""
        tag, vr, length, start = self.header(pos)
        if length != UNDEFINED_LENGTH:
            return self.skip(start, length)
        is_sequence = vr in (b"SQ", b"UN") or (vr is None and _dictionary_vr(tag) == "SQ")
        if vr == b"UN":  # an undefined-length UN holds implicit little-endian items (PS3.5 6.2.2)
            return _Walker(self.data, implicit=True, little=True).items(start, nested=True)
        return self.items(start, nested=is_sequence)

    def items(self, pos: int, *, nested: bool) -> int:
        """Items up to the sequence delimiter: datasets (a sequence) or fragments (encapsulated pixels)."""
        while True:
            tag, _, length, start = self.header(pos)
            if tag == _SEQUENCE_END:
                return start
            if tag != _ITEM:
                raise _Malformed(f"expected an item at byte {pos}")
            if length != UNDEFINED_LENGTH:
                pos = self.skip(start, length)
            elif nested:
                pos = self.dataset(start, until_item_end=True)
            else:
                raise _Malformed("a fragment of undefined length")

    def dataset(self, pos: int, *, until_item_end: bool) -> int:
        while until_item_end or pos < len(self.data):
            if until_item_end and self.tag(pos) == _ITEM_END:
                return self.header(pos)[3]
            pos = self.element(pos)
        return pos


def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def _element_name(tag: int) -> str:
    if tag == _PIXEL_DATA:
        return "the pixel data"
    label = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    try:
        return f"the header, at {dictionary_description(tag)} {label}"
    except KeyError:
        return f"the header, at element {label}"


def find_truncation(path: Path) -> Truncation | None:
    """Where the file ``path`` ends early, or None when its elements are whole (or it is not one we can walk).

    Walks the preamble, the file meta information and every element header of the data set (sequences and
    encapsulated pixel data item by item), in the file's transfer syntax, without decoding any value.
    """
    data = Path(path).read_bytes()
    size = len(data)
    if size < _PREAMBLE + 4:
        return Truncation(size, "the DICOM preamble") if _could_be_preamble(data) else None
    if data[_PREAMBLE : _PREAMBLE + 4] != b"DICM":
        return None
    meta = _Walker(data, implicit=False, little=True)
    pos, syntax, meta_end = _PREAMBLE + 4, "", None
    try:
        while pos < size and meta.tag(pos) >> 16 == 0x0002:
            tag, _, length, start = meta.header(pos)
            pos = meta.skip(start, length)
            if tag == 0x00020000 and length == 4:  # File Meta Information Group Length
                meta_end = pos + struct.unpack("<I", data[start:pos])[0]
            elif tag == 0x00020010:
                syntax = data[start:pos].decode("ascii", "replace").strip("\x00 ")
    except _Short as short:
        return Truncation(size, "the file meta information", short.needed)
    except (_Malformed, struct.error):
        return None
    if pos >= size:
        if pos == _PREAMBLE + 4 or (meta_end is not None and pos < meta_end):
            return Truncation(size, "the file meta information", meta_end)
        return Truncation(size, "the header, right after the file meta information")
    if syntax == DeflatedExplicitVRLittleEndian:
        return None  # compressed as a whole: nothing to walk without inflating it
    walker = _Walker(data, implicit=syntax == ImplicitVRLittleEndian, little=syntax != ExplicitVRBigEndian)
    while pos < size:
        try:
            current = walker.tag(pos)
        except _Short:
            return Truncation(size, "the header")
        try:
            pos = walker.element(pos)
        except _Short as short:
            return Truncation(size, _element_name(current), short.needed)
        except (_Malformed, struct.error):
            return None
    return None


def _could_be_preamble(data: bytes) -> bool:
    """True for a prefix of a DICOM file's usual start: a zero preamble, then "DICM"."""
    head, marker = data[:_PREAMBLE], data[_PREAMBLE:]
    return head.count(0) == len(head) and b"DICM".startswith(marker)


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
        return self.hu.shape


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
        out = np.array([float(v) for v in value], dtype=np.float64)  # type: ignore[attr-defined]  # any DICOM value; non-iterables are caught below
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


def read_ct_slice(path: Path, pseudonymiser: Anonymizer | None, deid_path: Path) -> CtSlice | Refusal:
    """Read, check, convert and de-identify one file, writing the de-identified copy to ``deid_path``.

    Nothing is written for a refused file; the reason of a refusal says what to do. Without a
    ``pseudonymiser`` the file is one this site stored already (de-identified): it is read as it is and
    copied to ``deid_path``. The checks run in a fixed order, so a file with several faults is refused
    for the first: readable, an axial CT image, convertible to HU, placeable, decodable.
    """
    ds = _read_dataset(path)
    if isinstance(ds, Refusal):
        return ds
    refusal = _refuse_kind(ds, path) or _refuse_conversion(ds)
    if refusal is not None:
        return refusal
    geometry = _geometry(ds)
    if isinstance(geometry, Refusal):
        return geometry
    pixels = _pixels(ds, path)
    if isinstance(pixels, Refusal):
        return pixels
    hu = to_hu(ds, pixels)
    original_sop, original_series = str(ds.SOPInstanceUID), str(ds.get("SeriesInstanceUID", ""))
    transfer_syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    denoised = "DENOIS" in str(ds.get("SeriesDescription", "")).upper()  # before de-identification
    if pseudonymiser is None:
        shutil.copyfile(path, deid_path)
    else:
        remove_private_tags(ds)
        pseudonymiser.anonymize(ds)
        ds.PatientIdentityRemoved = "YES"
        ds.save_as(deid_path, enforce_file_format=True)
    originals = _Originals(original_sop, original_series, transfer_syntax, denoised)
    return _ct_slice(ds, originals, geometry, hu, deid_path)


def _read_dataset(path: Path) -> Dataset | Refusal:
    """The file's data set, or why it cannot be read (not DICOM, empty, cut short, a damaged header)."""
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        truncation = find_truncation(path)
        if truncation is not None:
            return _empty_or_truncated(truncation)
        return Refusal("not a DICOM file (no DICM marker): upload CT images exported from PACS as .dcm files")
    except Exception as exc:  # EOFError, struct.error, ValueError...: whatever a cut or damaged header raises
        truncation = find_truncation(path)
        if truncation is not None:
            return truncation.refusal()
        return _sentence(f"the DICOM header cannot be read ({type(exc).__name__})")


def _refuse_kind(ds: Dataset, path: Path) -> Refusal | None:
    """Why the file is not a single axial CT image a reader may see (index file, cut pixels, MR, scout...)."""
    meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or getattr(meta, "MediaStorageSOPClassUID", None)
    if sop_class == MediaStorageDirectoryStorage:
        return Refusal("DICOMDIR index file: ignored (the images it lists are imported from their own files)")
    if "PixelData" not in ds:  # a cut header ends the data set early, before the pixels
        truncation = find_truncation(path)
        if truncation is not None:
            return truncation.refusal()
        if sop_class == CTImageStorage:
            size = Path(path).stat().st_size
            return _sentence(
                f"the file has no pixel data, so it was probably cut short (it ends at byte {size:,}, "
                "after the header)"
            )
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
    return None


def _refuse_conversion(ds: Dataset) -> Refusal | None:
    """Why the stored values cannot become Hounsfield units, if they cannot."""
    missing = [tag for tag in ("RescaleSlope", "RescaleIntercept") if ds.get(tag) in (None, "")]
    if missing:
        return Refusal(
            f"missing {' and '.join(missing)}: stored values cannot be converted to Hounsfield units"
        )
    return None


@dataclass(frozen=True)
class _Geometry:
    position: np.ndarray
    orientation: np.ndarray
    spacing: np.ndarray


@dataclass(frozen=True)
class _Originals:
    """What the file said before de-identification changed it."""

    sop_uid: str
    series_uid: str
    transfer_syntax: str
    denoised: bool


def _geometry(ds: Dataset) -> _Geometry | Refusal:
    """Where the slice lies: position, orientation and pixel spacing of an axial single-frame image."""
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
    return _Geometry(position, orientation, spacing)


def _pixels(ds: Dataset, path: Path) -> np.ndarray | Refusal:
    """The decoded 2-D stored values, or why they cannot be decoded (cut short, corrupt, unsupported)."""
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # decoders raise many types for truncated or corrupt pixel data
        truncation = find_truncation(path)
        if truncation is not None:
            return truncation.refusal()
        return _sentence(
            f"the pixel data cannot be decoded ({type(exc).__name__}: {_quote(str(exc))})",
            "re-export it from the PACS, uncompressed if the PACS allows it",
        )
    if pixels.ndim != 2:
        return Refusal(f"unexpected pixel array shape {pixels.shape}")
    return pixels


def _ct_slice(
    ds: Dataset, originals: _Originals, geometry: _Geometry, hu: np.ndarray, deid_path: Path
) -> CtSlice:
    """The accepted slice as the importer stores it, from its de-identified data set."""
    return CtSlice(
        original_sop_uid=originals.sop_uid,
        original_series_uid=originals.series_uid,
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
        position=geometry.position,
        orientation=geometry.orientation,
        pixel_spacing=(float(geometry.spacing[0]), float(geometry.spacing[1])),
        slice_thickness=_float_or_none(ds.get("SliceThickness")),
        transfer_syntax=originals.transfer_syntax,
        denoised=originals.denoised,
        hu=hu,
        deid_path=deid_path,
    )


def _empty_or_truncated(truncation: Truncation) -> Refusal:
    if truncation.size == 0:
        return _sentence("the file is empty (0 bytes)")
    return truncation.refusal()


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]  # any DICOM value; bad ones are caught below
    except (TypeError, ValueError):
        return None


def _float_or_none(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]  # any DICOM value; bad ones are caught below
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
