"""WADO-RS (PS3.18 10.4): the stored, de-identified instances, their metadata, frames and renderings.

* Instances go out as ``multipart/related; type="application/dicom"``, one file per part, streamed from
  disk. Without ``transfer-syntax`` in the Accept header a client gets Explicit VR Little Endian (the
  DICOMweb default), so a file stored in another syntax is converted on the way; ``transfer-syntax=*`` or
  the stored syntax sends the file as it is.
* ``/metadata`` is DICOM JSON with a ``BulkDataURI`` for the pixel data that points at ``/frames/1``.
* ``/frames/{n}`` is the uncompressed frame (little endian, as stored: not Hounsfield units) in
  ``multipart/related; type="application/octet-stream"``.
* ``/rendered`` is the image in a VOI window: PNG by default, JPEG when asked; ``window=center,width`` with
  an optional ``linear``, ``linear-exact`` or ``sigmoid`` (PS3.3 C.11.2.1.2) overrides the file's window.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from rest_framework.exceptions import NotAcceptable

from ichweb.errors import Missing, RuleError
from ichweb.imaging.models import Series, Slice, Study
from ichweb.interop import dicomjson, headers, multipart
from ichweb.interop.dicomjson import Json, check_uid
from ichweb.interop.multipart import MediaType, Part

#: The brain window, for instances that carry none.
DEFAULT_WINDOW = (40.0, 80.0, "linear")
WINDOW_FUNCTIONS = ("linear", "linear-exact", "sigmoid")
UNCOMPRESSED_LE = (str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian))


def instances(study_uid: str, series_uid: str | None = None, sop_uid: str | None = None) -> list[Slice]:
    """The stored instances of a study, series or one instance, in series and slice order.

    Raises:
        RuleError: a UID of the path is malformed.
        Missing: the study, the series (in that study) or the instance is not stored here, named by UID.
    """
    check_uid(study_uid, "study")
    if not Study.objects.filter(study_uid=study_uid).exists():
        raise Missing(f"study {study_uid} is not stored here: find its UID with QIDO-RS /dicomweb/studies")
    rows = Slice.objects.filter(series__study__study_uid=study_uid).select_related("series", "series__study")
    if series_uid is not None:
        check_uid(series_uid, "series")
        if not Series.objects.filter(series_uid=series_uid, study__study_uid=study_uid).exists():
            raise Missing(f"series {series_uid} is not stored in study {study_uid}")
        rows = rows.filter(series__series_uid=series_uid)
    if sop_uid is not None:
        check_uid(sop_uid, "instance")
        rows = rows.filter(sop_instance_uid=sop_uid)
        if not rows.exists():
            raise Missing(f"instance {sop_uid} is not stored in series {series_uid}")
    return list(rows.order_by("series_id", "index"))


def instance_url(base: str, item: Slice) -> str:
    series = item.series
    return (
        f"{base}/studies/{series.study.study_uid}/series/{series.series_uid}/instances/"
        + item.sop_instance_uid
    )


# --- negotiation ------------------------------------------------------------------------------------------


def _wants(accept: str, part_type: str, syntaxes: tuple[str, ...] | None = None) -> MediaType | None:
    """The first Accept range that a multipart of ``part_type`` parts satisfies, in one of ``syntaxes``
    (any, for None; a range without ``transfer-syntax`` asks for Explicit VR Little Endian)."""
    for media in multipart.parse_accept(accept):
        syntax = media.params.get("transfer-syntax", str(ExplicitVRLittleEndian))
        if syntaxes is not None and syntax not in syntaxes:
            continue
        if media.type in ("*/*", "multipart/*", part_type):
            return media
        wanted = media.params.get("type", part_type).lower()
        if media.type == "multipart/related" and wanted in (part_type, "*/*", part_type.split("/")[0] + "/*"):
            return media
    return None


def dicom_syntax(accept: str) -> str:
    """The transfer syntax asked for instances: a UID, ``*`` (as stored) or the default, Explicit VR LE.

    Raises:
        NotAcceptable: the Accept header asks for none of what is offered.
    """
    media = _wants(accept, "application/dicom")
    if media is None:
        raise NotAcceptable(
            'instances are offered as multipart/related; type="application/dicom" '
            "(transfer-syntax=* for the stored one)"
        )
    return media.params.get("transfer-syntax", str(ExplicitVRLittleEndian))


def _stored_syntax(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)


def check_syntax(items: list[Slice], syntax: str) -> None:
    """Refuse (406) a transfer syntax that is neither ``*``, the default nor the one the files are stored in.

    Checked on the first instance before anything is sent: a stream cannot turn into an error half way.
    """
    if syntax in ("*", str(ExplicitVRLittleEndian)) or not items:
        return
    if syntax != _stored_syntax(headers.instance_path(items[0])):
        raise NotAcceptable(
            f"transfer syntax {syntax} is not offered: ask for {ExplicitVRLittleEndian} or transfer-syntax=*"
        )


def _encoded(path: Path, syntax: str) -> tuple[str, bytes | None]:
    """The transfer syntax the file goes out in, and its bytes when they must be converted (else None).

    A file stored in a syntax other than the one asked for goes out in Explicit VR Little Endian.
    """
    stored = _stored_syntax(path)
    if syntax in ("*", stored):
        return stored, None
    ds = pydicom.dcmread(path)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return str(ExplicitVRLittleEndian), out.getvalue()


def retrieve_parts(items: list[Slice], syntax: str, base: str) -> Iterator[Part]:
    """One ``application/dicom`` part per instance, read (or converted) only when the body reaches it."""
    for item in items:
        path = headers.instance_path(item)
        sent, converted = _encoded(path, syntax)
        part_headers = {
            "Content-Type": f"application/dicom; transfer-syntax={sent}",
            "Content-Location": instance_url(base, item),
        }
        yield part_headers, [converted] if converted is not None else multipart.file_chunks(path)


# --- metadata ---------------------------------------------------------------------------------------------


def metadata(items: list[Slice], base: str, accept: str) -> list[Json]:
    """DICOM JSON of each instance, pixel data as a BulkDataURI (its ``/frames/1``).

    Raises:
        NotAcceptable: the Accept header excludes JSON.
    """
    if not any(
        m.type in ("*/*", "application/*", "application/dicom+json", "application/json")
        for m in multipart.parse_accept(accept)
    ):
        raise NotAcceptable("metadata is offered as application/dicom+json")
    return [
        dicomjson.dataset_json(
            dicomjson.read_header(headers.instance_path(item)),
            bulk_uri=f"{instance_url(base, item)}/frames/1",
        )
        for item in items
    ]


# --- frames -----------------------------------------------------------------------------------------------


def frame_numbers(raw: str, n_frames: int, sop_uid: str) -> list[int]:
    """``"1"`` or ``"1,2"`` as frame numbers (1-based).

    Raises:
        RuleError: not a list of whole numbers.
        Missing: a frame beyond the instance's ``n_frames``.
    """
    numbers: list[int] = []
    for part in raw.split(","):
        if not part.strip().isdigit() or int(part) < 1:
            raise RuleError(
                f"frames: {raw!r} is not a list of frame numbers from 1 (e.g. 1 or 1,2)", "frames"
            )
        numbers.append(int(part))
    beyond = [n for n in numbers if n > n_frames]
    if beyond:
        raise Missing(f"frame {beyond[0]} does not exist: instance {sop_uid} has {n_frames} frame(s)")
    return numbers


def frame_bytes(path: Path) -> tuple[list[bytes], str]:
    """Every frame of the stored file, uncompressed little endian, and that transfer syntax."""
    ds = pydicom.dcmread(path)
    syntax = str(ds.file_meta.TransferSyntaxUID)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if syntax in UNCOMPRESSED_LE and n_frames == 1:
        rows, columns = int(ds.Rows), int(ds.Columns)
        size = rows * columns * int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8
        return [bytes(ds.PixelData[:size])], str(ExplicitVRLittleEndian)
    pixels = ds.pixel_array
    frames = pixels if n_frames > 1 else pixels[np.newaxis]
    little = [np.ascontiguousarray(f, dtype=f.dtype.newbyteorder("<")).tobytes() for f in frames]
    return little, str(ExplicitVRLittleEndian)


def frame_parts(item: Slice, raw: str, accept: str, base: str) -> list[Part]:
    """The frames ``raw`` names, one ``application/octet-stream`` part each.

    Raises:
        NotAcceptable: the Accept header asks for compressed frames or another type.
    """
    if _wants(accept, "application/octet-stream", ("*", str(ExplicitVRLittleEndian))) is None:
        raise NotAcceptable(
            'frames are offered uncompressed: multipart/related; type="application/octet-stream"'
        )
    frames, syntax = frame_bytes(headers.instance_path(item))
    numbers = frame_numbers(raw, len(frames), item.sop_instance_uid)
    location = f"{instance_url(base, item)}/frames/"
    return [
        (
            {
                "Content-Type": f"application/octet-stream; transfer-syntax={syntax}",
                "Content-Location": f"{location}{n}",
            },
            [frames[n - 1]],
        )
        for n in numbers
    ]


# --- rendered ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "linear"


def parse_window(raw: str | None, item: Slice) -> Window:
    """``window=center,width[,function]``, else the instance's first VOI window, else the brain window.

    Raises:
        RuleError: on ``window``, when it is not two numbers (width > 0) and an optional function name.
    """
    if raw is None:
        ds = dicomjson.read_header(headers.instance_path(item))
        center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
        try:
            c = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
            w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
        except (TypeError, ValueError):
            return Window(*DEFAULT_WINDOW)
        return Window(c, w) if w > 0 else Window(*DEFAULT_WINDOW)
    parts = [p.strip() for p in raw.split(",")]
    try:
        center, width = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        center = width = math.nan
    function = parts[2].lower() if len(parts) > 2 else "linear"
    if len(parts) > 3 or not (math.isfinite(center) and math.isfinite(width) and width > 0):
        raise RuleError("window must be center,width[,function] with a width above 0, e.g. 40,80", "window")
    if function not in WINDOW_FUNCTIONS:
        raise RuleError(
            f"window: function {function!r} is not one of {', '.join(WINDOW_FUNCTIONS)}", "window"
        )
    return Window(center, width, function)


def apply_window(hu: np.ndarray, window: Window) -> np.ndarray:
    """Map values to 0..255 by a VOI LUT function of PS3.3 C.11.2.1.2 (linear, linear exact, sigmoid)."""
    x = hu.astype(np.float64)
    c, w = window.center, window.width
    if window.function == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
    elif window.function == "linear-exact":
        y = (x - c) / w + 0.5
    else:
        y = ((x - (c - 0.5)) / (w - 1) + 0.5) if w > 1 else (x > c - 0.5).astype(np.float64)
    return np.rint(np.clip(y, 0.0, 1.0) * 255).astype(np.uint8)


def rendered(item: Slice, accept: str, window_raw: str | None) -> tuple[bytes, str]:
    """The slice in its window as PNG or JPEG, and that media type; from the series' HU volume.

    Raises:
        NotAcceptable: neither PNG nor JPEG is acceptable.
    """
    kind = None
    for media in multipart.parse_accept(accept):
        if media.type in ("*/*", "image/*", "image/png"):
            kind = "image/png"
        elif media.type == "image/jpeg":
            kind = "image/jpeg"
        if kind:
            break
    if kind is None:
        raise NotAcceptable("renderings are offered as image/png (the default) and image/jpeg")
    window = parse_window(window_raw, item)
    image = Image.fromarray(apply_window(np.asarray(item.series.volume()[item.index]), window))
    out = io.BytesIO()
    if kind == "image/png":
        image.save(out, format="PNG", compress_level=3)
    else:
        image.save(out, format="JPEG", quality=90)
    return out.getvalue(), kind
