"""From Hounsfield units to network input: the one preprocessing path shared by training and inference.

``hu (Z, H, W)`` -> window (one RGB preset of M3 / Lewicki, or a single window repeated on three channels for
M1/M2) -> float in [0, 1] -> resize to the net's native input -> ImageNet mean/std normalisation ->
``(Z, 3, size, size)`` float32. Slice interpolation (M4) may run on this output: resizing and the per-channel
affine normalisation are linear, and the interpolation weights sum to one, so interpolating before or after
them gives the same images (the windowing itself is not linear and always comes first).

On a CUDA device ``prepare_volume`` sends the HU as they are (int16: a sixth of the bytes of three float
channels) and windows, resizes and normalises there. ``window_channels_torch`` is ``window_channels`` in
torch with the same float32 arithmetic, so the windowed images are equal; the GPU's resize kernel may round
differently from the CPU's in the last bits.

Example::

    >>> import numpy as np
    >>> prepare_volume(np.zeros((2, 64, 64), np.int16), "paper", 32).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ml.windowing import RGB_PRESETS, WINDOWS, Window, window_float

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def windowing_names() -> list[str]:
    return sorted([*RGB_PRESETS, *WINDOWS])


def channel_windows(windowing: str) -> tuple[Window, Window, Window]:
    """The windows of the three channels: an RGB preset's, or one window three times."""
    if windowing in RGB_PRESETS:
        return RGB_PRESETS[windowing]
    if windowing in WINDOWS:
        w = WINDOWS[windowing]
        return (w, w, w)
    raise ValueError(f"unknown windowing {windowing!r}; valid: {', '.join(windowing_names())}")


def window_channels(hu: np.ndarray, windowing: str) -> np.ndarray:
    """(Z, H, W) HU -> (Z, 3, H, W) float32 in [0, 1]: an RGB preset, or one window on all three channels.

    The HU are converted to float32 once and each window is written straight into its channel.
    """
    windows = channel_windows(windowing)
    x = np.asarray(hu, dtype=np.float32)
    out = np.empty((x.shape[0], 3, *x.shape[1:]), dtype=np.float32)
    for c, w in enumerate(windows):
        if c and w == windows[c - 1]:
            out[:, c] = out[:, c - 1]
        else:
            window_float(x, w.level, w.width, out=out[:, c])
    return out


def window_float_torch(
    hu: torch.Tensor, level: float, width: float, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``ml.windowing.window_float`` on a tensor, on its device: ``clip((hu - (WL - WW/2)) / WW, 0, 1)``.

    The same float32 operations as the numpy function (HU to float32, minus float32 ``WL - WW/2``, times
    float32 ``1 / WW``, clipped), so the values are equal. ``out``: a float32 tensor (or view) to write into.
    """
    if not width > 0:
        raise ValueError(f"window width must be > 0, got {width}")
    low, scale = float(np.float32(level - width / 2)), float(np.float32(1.0 / width))
    return torch.sub(hu.to(torch.float32), low, out=out).mul_(scale).clamp_(0.0, 1.0)


def window_channels_torch(hu: torch.Tensor, windowing: str) -> torch.Tensor:
    """``window_channels`` on a ``(Z, H, W)`` tensor of HU, on its device: ``(Z, 3, H, W)`` float32.

    The HU are converted to float32 once and each window is written straight into its channel.
    """
    windows = channel_windows(windowing)
    x = hu.to(torch.float32)
    out = torch.empty((x.shape[0], 3, *x.shape[1:]), dtype=torch.float32, device=x.device)
    for c, w in enumerate(windows):
        if c and w == windows[c - 1]:
            out[:, c] = out[:, c - 1]
        else:
            window_float_torch(x, w.level, w.width, out=out[:, c])
    return out


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


def _hu_tensor(hu: np.ndarray) -> torch.Tensor:
    """The HU as a CPU tensor of their own dtype (unsigned types widened to int32; read-only input copied)."""
    arr = np.ascontiguousarray(hu)
    if arr.dtype.kind == "u" and arr.dtype.itemsize > 1:
        arr = arr.astype(np.int32)
    elif not arr.flags.writeable:
        arr = arr.copy()
    return torch.from_numpy(arr)


def prepare_volume(
    hu: np.ndarray, windowing: str, size: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """(Z, H, W) HU -> (Z, 3, size, size) float32 network input, on ``device``.

    On a CUDA ``device`` the HU are sent first and windowed, resized and normalised there (module doc).
    """
    if device is not None and torch.device(device).type == "cuda":
        x = window_channels_torch(_hu_tensor(hu).to(device, non_blocking=True), windowing)
    else:
        x = torch.from_numpy(window_channels(np.asarray(hu), windowing))
        if device is not None:
            x = x.to(device, non_blocking=True)
    return normalize(resize(x, size))
