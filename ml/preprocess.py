"""From Hounsfield units to network input: the one preprocessing path shared by training and inference.

``hu (Z, H, W)`` -> window (one RGB preset of M3 / Lewicki, or a single window repeated on three channels for
M1/M2) -> float in [0, 1] -> resize to the net's native input -> ImageNet mean/std normalisation ->
``(Z, 3, size, size)`` float32. Slice interpolation (M4) may run on this output: resizing and the per-channel
affine normalisation are linear, and the interpolation weights sum to one, so interpolating before or after
them gives the same images (the windowing itself is not linear and always comes first).

Example::

    >>> import numpy as np
    >>> prepare_volume(np.zeros((2, 64, 64), np.int16), "paper", 32).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ml.windowing import RGB_PRESETS, WINDOWS, window_float

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def windowing_names() -> list[str]:
    return sorted([*RGB_PRESETS, *WINDOWS])


def window_channels(hu: np.ndarray, windowing: str) -> np.ndarray:
    """(Z, H, W) HU -> (Z, 3, H, W) float32 in [0, 1]: an RGB preset, or one window on all three channels."""
    if windowing in RGB_PRESETS:
        return np.stack([window_float(hu, w.level, w.width) for w in RGB_PRESETS[windowing]], axis=1)
    if windowing in WINDOWS:
        w = WINDOWS[windowing]
        single = window_float(hu, w.level, w.width)
        return np.repeat(single[:, None], 3, axis=1)
    raise ValueError(f"unknown windowing {windowing!r}; valid: {', '.join(windowing_names())}")


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear (antialiased when shrinking) resize of (N, C, H, W) to (N, C, size, size)."""
    if images.shape[-2:] == (size, size):
        return images
    shrink = images.shape[-1] > size or images.shape[-2] > size
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std per channel (the backbones were built for it, pretrained or not)."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def prepare_volume(
    hu: np.ndarray, windowing: str, size: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """(Z, H, W) HU -> (Z, 3, size, size) float32 network input, on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(window_channels(np.asarray(hu), windowing)))
    if device is not None:
        x = x.to(device, non_blocking=True)
    return normalize(resize(x, size))
