"""Anti-aliased 2D shapes on the image grid, in millimetres of a rotated head frame."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]


def soft(signed_mm: F32 | float, width: float) -> F32:
    """Partial-volume fraction from a signed distance (mm, > 0 inside): a linear ramp ``width`` mm wide."""
    out = np.asarray(signed_mm, dtype=np.float32) * np.float32(1.0 / width) + np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out)


def norm2(dx: F32, dy: F32) -> F32:
    """Euclidean length of ``(dx, dy)``; several times faster than ``np.hypot`` on float32."""
    return np.sqrt(dx * dx + dy * dy)


def z_profile(a: float, centre: float, half: float) -> float:
    """Cross-section scale of an ellipsoid along the height axis: 1 at ``centre``, 0 beyond ``half``."""
    u = (a - centre) / half
    return math.sqrt(1.0 - u * u) if abs(u) < 1.0 else 0.0


@dataclass(frozen=True)
class Patch:
    """A fraction map on a window of the image: ``alpha`` covers ``image[rows, cols]``."""

    rows: slice
    cols: slice
    alpha: F32

    def paint(self, image: F32, value: F32 | np.float32 | float, strength: float = 1.0) -> None:
        """Blend ``value`` into ``image`` in place with fraction ``strength * alpha``."""
        view = image[self.rows, self.cols]
        view += (self.alpha * np.float32(strength)) * (value - view)

    def full(self, shape: tuple[int, int]) -> F32:
        """The fraction map on the whole image."""
        out = np.zeros(shape, dtype=np.float32)
        out[self.rows, self.cols] = self.alpha
        return out

    def union_into(self, image: F32) -> None:
        """``image = max(image, alpha)`` on the window, in place."""
        view = image[self.rows, self.cols]
        np.maximum(view, self.alpha, out=view)


@dataclass(frozen=True)
class Frame:
    """The head coordinate frame on a square image grid.

    ``X`` points to the patient's left (image right), ``Y`` posterior (image down); both in mm from the head
    centre, rotated by ``angle`` (radians) in the image plane. ``x``/``y`` are image mm from the image centre.
    """

    n: int
    px: float
    cx: float
    cy: float
    angle: float
    x: F32
    y: F32
    X: F32
    Y: F32

    @classmethod
    def build(cls, n: int, px: float, cx: float, cy: float, angle: float) -> Frame:
        """Grid of ``n x n`` pixels of ``px`` mm; the head centre at image mm ``(cx, cy)``."""
        axis = ((np.arange(n, dtype=np.float32) - np.float32((n - 1) / 2)) * np.float32(px)).astype(
            np.float32
        )
        x = np.broadcast_to(axis[None, :], (n, n))
        y = np.broadcast_to(axis[:, None], (n, n))
        c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        dx, dy = x - np.float32(cx), y - np.float32(cy)
        return cls(n, px, cx, cy, angle, x, y, c * dx + s * dy, c * dy - s * dx)

    def to_image(self, hx: float, hy: float) -> tuple[float, float]:
        """Head mm to image mm."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        return self.cx + c * hx - s * hy, self.cy + s * hx + c * hy

    def to_pixel(self, hx: float, hy: float) -> tuple[float, float]:
        """Head mm to (column, row) pixel coordinates."""
        x, y = self.to_image(hx, hy)
        half = (self.n - 1) / 2
        return x / self.px + half, y / self.px + half

    def window(self, hx: float, hy: float, radius: float) -> tuple[slice, slice]:
        """Row and column slices of the square of half-side ``radius`` mm around a head point."""
        col, row = self.to_pixel(hx, hy)
        r = radius / self.px + 2
        r0, r1 = max(0, int(row - r)), min(self.n, int(row + r) + 1)
        c0, c1 = max(0, int(col - r)), min(self.n, int(col + r) + 1)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def local(self, hx: float, hy: float, radius: float) -> tuple[slice, slice, F32, F32]:
        """A window and the head coordinates relative to ``(hx, hy)`` inside it."""
        rows, cols = self.window(hx, hy, radius)
        return rows, cols, self.X[rows, cols] - np.float32(hx), self.Y[rows, cols] - np.float32(hy)


def ellipse(frame: Frame, cx: float, cy: float, ax: float, ay: float, angle: float = 0.0) -> Patch | None:
    """Anti-aliased ellipse with semi-axes ``ax`` (along rotated X) and ``ay``; ``None`` when degenerate.

    ``angle`` (radians) turns the ellipse clockwise on the image (from +Y toward +X at its posterior end).
    """
    if ax <= 0.05 or ay <= 0.05:
        return None
    rows, cols, dx, dy = frame.local(cx, cy, max(ax, ay) + frame.px)
    if dx.size == 0:
        return None
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    u = (c * dx - s * dy) * np.float32(1.0 / ax)
    v = (s * dx + c * dy) * np.float32(1.0 / ay)
    rho2 = u * u + v * v
    grad = np.sqrt((u / np.float32(ax)) ** 2 + (v / np.float32(ay)) ** 2) + np.float32(1e-6)
    return Patch(rows, cols, soft((1.0 - rho2) / (2.0 * grad), frame.px))


def segment_distance(dx: F32, dy: F32, ex: float, ey: float) -> tuple[F32, F32]:
    """Distance (mm) from points ``(dx, dy)`` to the segment from the origin to ``(ex, ey)``, and the position
    ``t`` in [0, 1] of the nearest point along it."""
    length2 = ex * ex + ey * ey
    t = np.clip((dx * np.float32(ex) + dy * np.float32(ey)) * np.float32(1.0 / length2), 0.0, 1.0)
    return norm2(dx - t * np.float32(ex), dy - t * np.float32(ey)), t


def capsule(
    frame: Frame, p0: tuple[float, float], p1: tuple[float, float], r0: float, r1: float
) -> tuple[Patch, F32] | None:
    """Anti-aliased tapered capsule from ``p0`` (radius ``r0``) to ``p1`` (radius ``r1``).

    Returns the patch and the position along the segment (0 at ``p0``, 1 at ``p1``) of every window pixel.
    """
    mx, my = (p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2
    reach = math.hypot(p1[0] - p0[0], p1[1] - p0[1]) / 2 + max(r0, r1) + frame.px
    rows, cols, dx, dy = frame.local(mx, my, reach)
    if dx.size == 0:
        return None
    dist, t = segment_distance(
        dx + np.float32(mx - p0[0]), dy + np.float32(my - p0[1]), p1[0] - p0[0], p1[1] - p0[1]
    )
    radius = np.float32(r0) + t * np.float32(r1 - r0)
    return Patch(rows, cols, soft(radius - dist, frame.px)), t


class SmoothField:
    """Low-frequency random field on the grid, ~unit SD, varying smoothly with height ``a``.

    A sum of ``rank`` separable products of random cosines in rows and columns, so it is cheap at 512 x 512.
    """

    def __init__(self, rng: np.random.Generator, n: int, cycles: tuple[float, float], rank: int = 4) -> None:
        t = np.linspace(0.0, 1.0, n, dtype=np.float64)
        f = rng.uniform(*cycles, size=(2, rank))
        ph = rng.uniform(0, 2 * np.pi, size=(2, rank))
        self.rows = np.cos(2 * np.pi * f[0] * t[:, None] + ph[0]).astype(np.float32)
        self.cols = np.cos(2 * np.pi * f[1] * t[:, None] + ph[1]).astype(np.float32)
        self.zf = rng.uniform(0.5, 2.0, size=rank)
        self.zph = rng.uniform(0, 2 * np.pi, size=rank)
        self.norm = np.float32(2.0 / math.sqrt(rank))

    def at(self, a: float) -> F32:
        """The field at height ``a`` (0 skull base, 1 vertex)."""
        w = np.cos(2 * np.pi * self.zf * a + self.zph).astype(np.float32) * self.norm
        # Explicit outer products rather than a BLAS matmul, whose rounding may vary between machines.
        out = cast(F32, np.multiply.outer(self.rows[:, 0] * w[0], self.cols[:, 0]))
        for k in range(1, len(w)):
            out += np.multiply.outer(self.rows[:, k] * w[k], self.cols[:, k])
        return out
