"""PNG renderings of attention maps and atlas patches for the review pages and the command line.

* ``heatmap_png``: the slice with its attention map blended on top through a perceptual colour map
  (inferno by default: monotonic in lightness, readable in greyscale and by colour-blind readers).
* ``map_png``: the raw [0, 1] map as 8-bit grey, for the browser to colour and blend itself.
* ``patch_thumbnail``: an atlas patch (optionally with its activation map) scaled to a thumbnail.

Colour maps come from matplotlib (imported here only, no display needed); images are encoded by Pillow.

Example::

    >>> png = heatmap_png(window(hu[12], 40, 80), normalise(upsample(cam, hu.shape[1:])))
    >>> png[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml.cam import upsample

__all__ = ["colour_lut", "heatmap_png", "heatmap_rgb", "map_png", "patch_thumbnail"]


@lru_cache(maxsize=8)
def colour_lut(cmap: str = "inferno") -> NDArray[np.uint8]:
    """``(256, 3)`` uint8 lookup table of a matplotlib colour map (``matplotlib.colormaps[cmap]``)."""
    import matplotlib

    try:
        colours = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colour map {cmap!r}; e.g. inferno, viridis, magma, plasma") from None
    lut = colours(np.linspace(0.0, 1.0, 256))[:, :3]
    return np.asarray(np.round(lut * 255), dtype=np.uint8)


def _png(array: NDArray[np.uint8]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def _rgb(image: ArrayLike) -> NDArray[np.uint8]:
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (a windowed slice), got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    raise ValueError(f"image must be (H, W) grey or (H, W, 3) RGB, got {array.shape}")


def _unit_map(map_: ArrayLike, shape: tuple[int, int]) -> NDArray[np.float32]:
    values = np.asarray(map_, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"map must be (h, w), got {values.shape}")
    if values.shape != shape:
        values = upsample(values, shape)
    return np.clip(np.nan_to_num(values), 0.0, 1.0)


def heatmap_rgb(
    image: ArrayLike, map_: ArrayLike, alpha: float = 0.4, cmap: str = "inferno"
) -> NDArray[np.uint8]:
    """``(1 - alpha) image + alpha colour(map)`` as ``(H, W, 3)`` uint8.

    Args:
        image: ``(H, W)`` grey or ``(H, W, 3)`` RGB uint8 (e.g. the brain window of the slice).
        map_: ``(h, w)`` attention in [0, 1]; resized bilinearly to ``(H, W)`` when it differs.
        alpha: weight of the colour layer, in [0, 1].
        cmap: a matplotlib colour map name.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rgb = _rgb(image)
    values = _unit_map(map_, rgb.shape[:2])
    colour = colour_lut(cmap)[np.round(values * 255).astype(np.uint8)]
    blended = (1.0 - alpha) * rgb.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.round(blended).clip(0, 255).astype(np.uint8)


def heatmap_png(image: ArrayLike, map_: ArrayLike, alpha: float = 0.4, cmap: str = "inferno") -> bytes:
    """PNG of ``heatmap_rgb``: the slice with its attention map blended on top."""
    return _png(heatmap_rgb(image, map_, alpha, cmap))


def map_png(map_: ArrayLike) -> bytes:
    """8-bit grey PNG of a [0, 1] map (``round(255 m)``), at the map's own size."""
    values = np.asarray(map_, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"map must be (h, w), got {values.shape}")
    return _png(np.round(np.clip(np.nan_to_num(values), 0.0, 1.0) * 255).astype(np.uint8))


def patch_thumbnail(
    patch: ArrayLike,
    size: int = 96,
    map_: ArrayLike | None = None,
    alpha: float = 0.4,
    cmap: str = "inferno",
) -> bytes:
    """PNG thumbnail ``size`` x ``size`` of an atlas patch, its activation map blended on top when given.

    Args:
        patch: ``(P, P, 3)`` or ``(P, P)`` uint8 (``Atlas.patches[i]``).
        size: side of the thumbnail in pixels (bicubic resize).
        map_: ``(P, P)`` map in [0, 1] (``Atlas.maps[i]``) to overlay, or None for the bare patch.
    """
    from PIL import Image

    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    rgb = _rgb(patch) if map_ is None else heatmap_rgb(patch, map_, alpha, cmap)
    image = Image.fromarray(np.ascontiguousarray(rgb)).resize((size, size), Image.Resampling.BICUBIC)
    return _png(np.asarray(image))
