"""Grouping accepted slices into series and checking each series as a whole (no Django here)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from ichweb.imaging.dicom import CtSlice

#: Two slices closer than this along the normal (mm) are the same slice twice.
SAME_POSITION_MM = 0.01
#: A gap this many times the usual spacing means slices are missing.
GAP_FACTOR = 1.5
#: Spacings that differ by more than this fraction of the usual spacing are reported as uneven.
UNEVEN_FRACTION = 0.1


@dataclass
class SeriesPlan:
    """A checked series: slices sorted along the normal, their positions, spacing and accepted warnings."""

    slices: list[tuple[str, CtSlice]]  # (file name, slice), sorted
    positions: np.ndarray
    spacing: float
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def first(self) -> CtSlice:
        return self.slices[0][1]

    def volume(self) -> np.ndarray:
        return np.stack([s.hu for _, s in self.slices])


def group_by_series(items: list[tuple[str, CtSlice]]) -> dict[str, list[tuple[str, CtSlice]]]:
    groups: dict[str, list[tuple[str, CtSlice]]] = defaultdict(list)
    for name, ct in items:
        groups[ct.series_uid].append((name, ct))
    return dict(groups)


def plan_series(items: list[tuple[str, CtSlice]]) -> tuple[SeriesPlan | None, dict[str, str]]:
    """Check one series; returns the plan (None if refused whole) and the refusal reason per file name."""
    refused: dict[str, str] = {}
    shapes = Counter(ct.shape for _, ct in items)
    if len(shapes) > 1:
        sizes = " and ".join(f"{r}x{c}" for r, c in shapes)
        return None, {
            name: f"mixed series: images of different sizes ({sizes}) share one series UID"
            for name, _ in items
        }
    first = items[0][1]
    for label, values, tol in (
        ("orientations", [ct.orientation for _, ct in items], 1e-3),
        ("pixel spacings", [np.array(ct.pixel_spacing) for _, ct in items], 1e-3),
    ):
        if any(not np.allclose(v, values[0], atol=tol) for v in values):
            return None, {name: f"mixed series: different {label} within one series UID" for name, _ in items}

    normal = first.normal
    ordered = sorted(items, key=lambda item: float(item[1].position @ normal))
    kept: list[tuple[str, CtSlice]] = []
    positions: list[float] = []
    for name, ct in ordered:
        where = float(ct.position @ normal)
        if positions and abs(where - positions[-1]) < SAME_POSITION_MM:
            refused[name] = f"duplicate slice: same position ({where:.2f} mm) as {kept[-1][0]}"
            continue
        kept.append((name, ct))
        positions.append(where)

    pos = np.array(positions)
    warnings: list[dict[str, str]] = []
    if len(pos) >= 2:
        gaps = np.diff(pos)
        spacing = float(np.median(gaps))
        big = np.flatnonzero(gaps > GAP_FACTOR * spacing)
        if big.size:
            missing = int(sum(round(gaps[i] / spacing) - 1 for i in big))
            gaps_at = ", ".join(f"{pos[i]:.1f}-{pos[i + 1]:.1f} mm" for i in big[:5])
            warnings.append(
                {"code": "missing_slices", "message": f"about {missing} slice(s) missing (gaps at {gaps_at})"}
            )
        if (gaps.max() - gaps.min()) > UNEVEN_FRACTION * spacing and not big.size:
            warnings.append(
                {
                    "code": "uneven_spacing",
                    "message": f"slice spacing varies from {gaps.min():.2f} to {gaps.max():.2f} mm",
                }
            )
    else:
        spacing = float(first.slice_thickness or 0.0)
        warnings.append({"code": "single_slice", "message": "the series has a single slice"})
    return SeriesPlan(slices=kept, positions=pos, spacing=spacing, warnings=warnings), refused
