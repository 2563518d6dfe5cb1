"""Reading one DICOM CT series folder into a Hounsfield-unit volume, without Django (for ``ml.infer``).

HU = stored value * RescaleSlope + RescaleIntercept (M3 windows start from HU: docs/science.md, "Windowing");
slices are ordered along the slice normal. The web app's ingest (``ichweb.imaging``) does more: checks with
reasons, de-identification, storage. This reader serves the command line and scripts on any series folder.

Example::

    >>> hu, info = read_series("var/phantom/case0001/series")
    >>> hu.dtype, hu.shape, bool((np.diff(info.z) > 0).all())
    (dtype('int16'), (36, 512, 512), True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

__all__ = ["SeriesError", "SeriesInfo", "read_series"]


class SeriesError(ValueError):
    """A folder that does not hold one readable CT series."""


@dataclass(frozen=True)
class SeriesInfo:
    """Where the slices of ``read_series`` came from.

    Attributes:
        folder: the series folder.
        files: one file per slice, in slice order.
        z: ``(Z,)`` position of each slice along the slice normal in mm (NaN without a position).
        series_uid: SeriesInstanceUID ("" when absent).
        pixel_spacing: (row, column) spacing in mm, or None.
    """

    folder: Path
    files: tuple[Path, ...]
    z: NDArray[np.float64]
    series_uid: str
    pixel_spacing: tuple[float, float] | None


def _floats(value: object, n: int) -> NDArray[np.float64] | None:
    if not isinstance(value, Iterable):
        return None
    try:
        out = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return out if out.shape == (n,) else None


def _hu(ds: Any) -> NDArray[np.int16]:
    """HU = stored * RescaleSlope + RescaleIntercept, as int16."""
    pixels = ds.pixel_array
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    if slope == 1.0 and intercept.is_integer():
        hu = pixels.astype(np.int32) + int(intercept)
    else:
        hu = np.rint(pixels.astype(np.float32) * slope + intercept)
    info = np.iinfo(np.int16)
    return cast(NDArray[np.int16], np.clip(hu, info.min, info.max).astype(np.int16))


def read_series(path: str | Path) -> tuple[NDArray[np.int16], SeriesInfo]:
    """Read a folder of single-frame DICOM CT images as ``(Z, H, W)`` int16 HU, sorted along the slice normal.

    Files that are not DICOM or carry no pixels (a DICOMDIR, notes) are skipped. Slices are ordered by
    ``ImagePositionPatient . (row x column direction)``; without positions, by InstanceNumber.

    Raises:
        SeriesError: no such folder, no DICOM image in it, several series, or slices of different sizes.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    folder = Path(path)
    if not folder.is_dir():
        raise SeriesError(f"series folder not found: {folder}")
    items = []
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(file)
        except (InvalidDicomError, EOFError, OSError, ValueError, KeyError):
            continue
        if "PixelData" in ds:
            items.append((file, ds))
    if not items:
        raise SeriesError(f"no DICOM image in {folder}")
    uids = sorted({str(ds.get("SeriesInstanceUID", "")) for _, ds in items})
    if len(uids) > 1:
        raise SeriesError(f"{folder} holds {len(uids)} series ({', '.join(uids)}): give one series folder")
    orientation = _floats(items[0][1].get("ImageOrientationPatient"), 6)
    positions = [_floats(ds.get("ImagePositionPatient"), 3) for _, ds in items]
    known = [p for p in positions if p is not None]
    if orientation is not None and len(known) == len(positions):
        normal = np.cross(orientation[:3], orientation[3:])
        z = np.array([float(p @ normal) for p in known])
        order = np.argsort(z, kind="stable")
    else:
        z = np.full(len(items), np.nan)
        order = np.argsort([int(ds.get("InstanceNumber", 0) or 0) for _, ds in items], kind="stable")
    slices = [_hu(items[i][1]) for i in order]
    shapes = sorted({s.shape for s in slices})
    if len(shapes) > 1:
        raise SeriesError(f"{folder}: slices of different sizes {shapes}")
    spacing = _floats(items[0][1].get("PixelSpacing"), 2)
    info = SeriesInfo(
        folder=folder,
        files=tuple(items[i][0] for i in order),
        z=z[order],
        series_uid=uids[0],
        pixel_spacing=None if spacing is None else (float(spacing[0]), float(spacing[1])),
    )
    return np.stack(slices), info
