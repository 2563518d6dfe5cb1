"""CT windowing: Hounsfield units to 8-bit or [0, 1] images (M3 and Lewicki's windows; docs/science.md,
"Windowing").

A window (level WL, width WW) maps HU in ``[WL - WW/2, WL + WW/2]`` linearly to ``[0, 255]``, clipping
outside.
8-bit values are rounded half up (``floor(v + 0.5)``), so with WL 40 / WW 40 the level itself, 40 HU, lands
exactly on 127.5 and becomes 128.

Preset names. The paper's (Lee et al.) brain window is WL 50 / WW 100 while the common (Lewicki, RSNA) brain
window is WL 40 / WW 80, so single windows carry unambiguous names:

========== ===== ===== ==========================================
name        WL    WW   used by
========== ===== ===== ==========================================
brain        40    80  Lewicki; the usual reading window
paper_brain  50   100  Lee et al. M3 (green channel)
tissue       40    40  Lee et al. M3 (red channel)
blood        60    40  Lee et al. M3 (blue channel)
subdural     80   200  Lewicki ("subdural/blood")
bone        600  2800  Lewicki
stroke       40    40  common stroke window
========== ===== ===== ==========================================

RGB presets stack three windows as channels: ``paper`` = (tissue, paper_brain, blood) exactly as M3 orders
R, G, B; ``lewicki`` = (brain, subdural, bone).

Example::

    >>> import numpy as np
    >>> window(np.array([20, 40, 60]), level=40, width=40).tolist()
    [0, 128, 255]
    >>> multi_window(np.zeros((4, 4)), "paper").shape
    (4, 4, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "RGB_PRESETS",
    "WINDOWS",
    "Window",
    "multi_window",
    "multi_window_chw",
    "multi_window_float",
    "render_preset",
    "window",
    "window_float",
]


@dataclass(frozen=True)
class Window:
    """A CT display window.

    Args:
        name: preset name.
        level: window level (centre) in HU.
        width: window width in HU (> 0).
    """

    name: str
    level: float
    width: float

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"window width must be > 0, got {self.width}")

    @property
    def low(self) -> float:
        """Lowest HU that is not clipped to 0."""
        return self.level - self.width / 2

    @property
    def high(self) -> float:
        """Highest HU that is not clipped to 255 (or 1.0)."""
        return self.level + self.width / 2


WINDOWS: dict[str, Window] = {
    w.name: w
    for w in (
        Window("brain", 40, 80),
        Window("paper_brain", 50, 100),
        Window("tissue", 40, 40),
        Window("blood", 60, 40),
        Window("subdural", 80, 200),
        Window("bone", 600, 2800),
        Window("stroke", 40, 40),
    )
}

RGB_PRESETS: dict[str, tuple[Window, Window, Window]] = {
    "paper": (WINDOWS["tissue"], WINDOWS["paper_brain"], WINDOWS["blood"]),
    "lewicki": (WINDOWS["brain"], WINDOWS["subdural"], WINDOWS["bone"]),
}


def window_float(
    hu: ArrayLike, level: float, width: float, out: NDArray[np.float32] | None = None
) -> NDArray[np.float32]:
    """Window HU to float32 in [0, 1] (Lewicki et al. scale each window to [0, 1]).

    Args:
        hu: Hounsfield units, any shape, integer or float (float32 input is not copied).
        level: window level (WL) in HU.
        width: window width (WW) in HU, > 0.
        out: a float32 array of the input's shape to write into (e.g. one channel of a stack); the
            values are the same.

    Returns:
        float32 array of the input's shape (``out`` when given): ``clip((hu - (WL - WW/2)) / WW, 0, 1)``,
        computed in float32 as ``(float32(hu) - float32(WL - WW/2)) * float32(1 / WW)``.
    """
    if not width > 0:
        raise ValueError(f"window width must be > 0, got {width}")
    x = np.asarray(hu, dtype=np.float32)
    out = np.subtract(x, np.float32(level - width / 2), out=out)
    np.multiply(out, np.float32(1.0 / width), out=out)
    return np.clip(out, 0.0, 1.0, out=out)


def window(hu: ArrayLike, level: float, width: float) -> NDArray[np.uint8]:
    """Window HU to 8-bit greyscale (M3; docs/science.md, "Windowing").

    HU in ``[WL - WW/2, WL + WW/2]`` map linearly to ``[0, 255]``; values outside clip. Rounding is half up.

    Args:
        hu: Hounsfield units, any shape, integer or float.
        level: window level (WL) in HU.
        width: window width (WW) in HU, > 0.

    Returns:
        uint8 array of the input's shape.
    """
    if not width > 0:
        raise ValueError(f"window width must be > 0, got {width}")
    x = np.asarray(hu, dtype=np.float64)
    scaled = (x - (level - width / 2)) * (255.0 / width)
    return np.floor(np.clip(scaled, 0.0, 255.0) + 0.5).astype(np.uint8)


def _preset(name: str) -> tuple[Window, Window, Window]:
    try:
        return RGB_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown RGB preset {name!r}; valid: {', '.join(sorted(RGB_PRESETS))}") from None


def multi_window(hu: ArrayLike, preset: str = "paper", channels_first: bool = False) -> NDArray[np.uint8]:
    """Three 8-bit windows of the same HU image stacked as RGB (M3; docs/science.md, "Windowing").

    Args:
        hu: Hounsfield units, shape ``(..., H, W)`` (any shape works).
        preset: a key of ``RGB_PRESETS``; ``"paper"`` gives R tissue 40/40, G brain 50/100, B blood 60/40.
        channels_first: return ``(3, ...)`` for torch instead of channels last ``(..., 3)``.

    Returns:
        uint8 array ``(..., 3)``, or ``(3, ...)`` when ``channels_first``.
    """
    windows = _preset(preset)
    axis = 0 if channels_first else -1
    return np.stack([window(hu, w.level, w.width) for w in windows], axis=axis)


def multi_window_chw(hu: ArrayLike, preset: str = "paper") -> NDArray[np.uint8]:
    """``multi_window`` with channels first, ``(3, H, W)`` for a 2D slice, as torch expects."""
    return multi_window(hu, preset, channels_first=True)


def multi_window_float(
    hu: ArrayLike, preset: str = "lewicki", channels_first: bool = False
) -> NDArray[np.float32]:
    """Three [0, 1] float windows stacked as channels (Lewicki et al. input).

    Args:
        hu: Hounsfield units, any shape.
        preset: a key of ``RGB_PRESETS``.
        channels_first: put the channel axis first instead of last.

    Returns:
        float32 array ``(..., 3)`` or ``(3, ...)``.
    """
    windows = _preset(preset)
    axis = 0 if channels_first else -1
    return np.stack([window_float(hu, w.level, w.width) for w in windows], axis=axis)


def render_preset(hu: ArrayLike, name: str) -> NDArray[np.uint8]:
    """Render HU with a named single window (greyscale, input shape) or RGB preset (``(..., 3)``).

    Args:
        hu: Hounsfield units, usually a 2D slice.
        name: a key of ``WINDOWS`` or of ``RGB_PRESETS``.

    Raises:
        ValueError: the name is neither; the message lists the valid names.
    """
    if name in WINDOWS:
        w = WINDOWS[name]
        return window(hu, w.level, w.width)
    if name in RGB_PRESETS:
        return multi_window(hu, name)
    raise ValueError(
        f"unknown window preset {name!r}; single windows: {', '.join(WINDOWS)}; "
        f"RGB presets: {', '.join(RGB_PRESETS)}"
    )
