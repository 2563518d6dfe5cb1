"""Crop a case to its head before resizing, and put maps computed on the crop back on the slice.

A head fills about half of a CT's field of view; resizing the whole 512 x 512 slice to a small network input
spends most pixels on air. ``head_box`` finds one square box per case around the head (the largest
connected region above ``HEAD_HU`` on the maximum projection over the slices, so a separate table or
head-holder is left out) with a small margin; ``crop_volume`` cuts every slice to it (parts of the box
outside the image are air), and ``paste_map`` puts a map computed on the crop back into the slice's frame.
One box per case keeps neighbouring slices aligned, so the M4 slice interpolation mixes the same anatomy.

Example::

    >>> box = head_box(hu)                       # (y0, y1, x0, x1), square, may reach outside the image
    >>> x = prepare_volume(crop_volume(hu, box), "paper", 128)
    >>> full = paste_map(upsample(cam, box.shape), box, hu.shape[1:])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml.cam import HEAD_HU, head_mask

__all__ = ["AIR_HU", "BOX_MARGIN", "Box", "crop_volume", "head_box", "paste_map"]

AIR_HU = -1000
#: Margin added on each side of the head, as a fraction of its larger extent.
BOX_MARGIN = 0.04
#: Smallest box side, as a fraction of the image side (a tiny or missing head keeps a sensible view).
MIN_SIDE_FRACTION = 0.25


@dataclass(frozen=True)
class Box:
    """A square ``[y0, y1) x [x0, x1)`` in slice pixels; it may reach outside the slice."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y1 - self.y0, self.x1 - self.x0)

    def to_list(self) -> list[int]:
        return [self.y0, self.y1, self.x0, self.x1]


def head_box(hu: ArrayLike, threshold: float = HEAD_HU, margin: float = BOX_MARGIN) -> Box:
    """The square box around the head of a ``(Z, H, W)`` HU volume (the whole slice when no head is found).

    Raises:
        ValueError: ``hu`` is not ``(Z >= 1, H, W)``.
    """
    volume = np.asarray(hu)
    if volume.ndim != 3 or volume.shape[0] == 0:
        raise ValueError(f"hu must be (Z >= 1, H, W), got {volume.shape}")
    height, width = volume.shape[1:]
    mask = head_mask(volume.max(axis=0), threshold)
    if not mask.any():
        return Box(0, height, 0, width)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    side = max(int(np.ceil(extent * (1 + 2 * margin))), int(MIN_SIDE_FRACTION * max(height, width)), 1)
    cy, cx = (rows[0] + rows[-1] + 1) / 2, (cols[0] + cols[-1] + 1) / 2
    y0, x0 = int(np.round(cy - side / 2)), int(np.round(cx - side / 2))
    return Box(y0, y0 + side, x0, x0 + side)


def crop_volume(hu: ArrayLike, box: Box | None, fill: float = AIR_HU) -> NDArray[np.int16]:
    """Every slice of ``(Z, H, W)`` cut to ``box`` (``None``: unchanged); outside the slice is ``fill``."""
    volume = np.asarray(hu)
    if box is None:
        return volume
    out = np.full((volume.shape[0], *box.shape), fill, dtype=volume.dtype)
    height, width = volume.shape[1:]
    sy0, sy1 = max(box.y0, 0), min(box.y1, height)
    sx0, sx1 = max(box.x0, 0), min(box.x1, width)
    if sy0 < sy1 and sx0 < sx1:
        out[:, sy0 - box.y0 : sy1 - box.y0, sx0 - box.x0 : sx1 - box.x0] = volume[:, sy0:sy1, sx0:sx1]
    return out


def paste_map(map_: ArrayLike, box: Box | None, shape: tuple[int, int]) -> NDArray[np.float32]:
    """A ``box.shape`` map back in the ``shape`` slice frame (0 outside the box; ``None``: unchanged).

    Raises:
        ValueError: the map's shape is not the box's (or, without a box, the slice's).
    """
    m = np.asarray(map_, dtype=np.float32)
    expected = box.shape if box is not None else tuple(shape)
    if m.shape != expected:
        raise ValueError(f"map must be {expected}, got {m.shape}")
    if box is None:
        return m
    out = np.zeros(shape, dtype=np.float32)
    height, width = shape
    sy0, sy1 = max(box.y0, 0), min(box.y1, height)
    sx0, sx1 = max(box.x0, 0), min(box.x1, width)
    if sy0 < sy1 and sx0 < sx1:
        out[sy0:sy1, sx0:sx1] = m[sy0 - box.y0 : sy1 - box.y0, sx0 - box.x0 : sx1 - box.x0]
    return out
