"""Slice pixels for the browser: raw HU bytes for client-side windowing and server-rendered PNGs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ml.windowing import RGB_PRESETS, WINDOWS, render_preset

PRESETS = sorted([*WINDOWS, *RGB_PRESETS])


def hu_bytes(hu: np.ndarray) -> bytes:
    """Little-endian int16, row-major: what ``GET /api/v1/slices/{id}/hu`` returns."""
    return np.ascontiguousarray(hu, dtype="<i2").tobytes()


def png_bytes(hu: np.ndarray, preset: str, size: int | None = None) -> bytes:
    """A windowed slice as PNG, optionally shrunk so its longer side is ``size`` pixels (thumbnails)."""
    image = Image.fromarray(render_preset(hu, preset))
    if size and max(image.size) > size:
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
