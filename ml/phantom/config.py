"""Options of the phantom generator and the numbers it draws from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ml.labels import SUBTYPES

GENERATOR_VERSION = "ichweb-phantom 1.0"

#: Lesion attenuation in HU, mean and SD of the lesion mean (acute blood; from the issue).
LESION_HU: dict[str, tuple[float, float]] = {
    "EDH": (56.0, 10.5),
    "SDH": (50.0, 13.0),
    "SAH": (44.0, 8.0),
    "IVH": (40.0, 9.0),
    "IPH": (47.5, 9.0),
}
#: A lesion's mean is clipped to mean +/- this many SD, so every lesion stays plausible blood.
LESION_HU_CLIP_SD = 2.0

#: Default share of each subtype as the primary subtype of a positive case (normalised weights).
DEFAULT_PREVALENCE: dict[str, float] = {"IPH": 0.30, "IVH": 0.12, "SDH": 0.25, "EDH": 0.08, "SAH": 0.25}

#: A pixel is in a lesion mask when the lesion fills at least this fraction of its voxel (partial volume).
MASK_FRACTION = 0.25
#: A slice is positive for a lesion when its mask covers at least this area (4 pixels at 512 px / 230 mm).
MIN_AREA_MM2 = 4 * (230.0 / 512) ** 2


def parse_prevalence(text: str) -> dict[str, float]:
    """Parse ``"IPH=0.3,SDH=0.2"`` into weights for all subtypes; subtypes not named get 0.

    Raises:
        ValueError: unknown subtype, bad number, negative weight or all weights zero.
    """
    out = dict.fromkeys(SUBTYPES, 0.0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        if not sep or name not in out:
            raise ValueError(
                f"bad prevalence item {part!r}; expected NAME=weight with NAME in {', '.join(SUBTYPES)}"
            )
        out[name] = float(value)
    return dict(_check_prevalence(out))


def _check_prevalence(prevalence: Mapping[str, float]) -> Mapping[str, float]:
    unknown = set(prevalence) - set(SUBTYPES)
    if unknown:
        raise ValueError(f"unknown subtypes in prevalence: {sorted(unknown)}; valid: {', '.join(SUBTYPES)}")
    if any(not np.isfinite(v) or v < 0 for v in prevalence.values()):
        raise ValueError(f"prevalence weights must be finite and >= 0, got {dict(prevalence)}")
    if sum(prevalence.values()) <= 0:
        raise ValueError("at least one subtype needs a prevalence weight > 0")
    return prevalence


@dataclass(frozen=True)
class PhantomConfig:
    """Options of the synthetic head-CT generator.

    Args:
        seed: dataset seed; case ``k`` depends only on ``(seed, k)`` and the options below.
        size: image rows and columns (square); the field of view stays ``fov_mm``, spacing ``fov_mm/size``.
        slices_min: fewest axial slices per case.
        slices_max: most axial slices per case.
        negative_fraction: probability that a case has no haemorrhage.
        prevalence: weight of each subtype as the primary subtype of a positive case (normalised; missing
            subtypes get 0).
        multi_fraction: probability that a positive case has one or two more subtypes (drawn with the same
            weights, without replacement).
        denoised: also produce a 3x3 median-filtered series (M4 noise; docs/science.md, "Augmentation").
        noise_sigma: range of the per-case scanner noise SD in HU.
        fov_mm: field of view in mm.
        slice_thickness: slice thickness and spacing in mm.

    Example::

        config = PhantomConfig(seed=7, size=128, prevalence={"SDH": 1.0}, negative_fraction=0.0)
    """

    seed: int = 0
    size: int = 512
    slices_min: int = 24
    slices_max: int = 36
    negative_fraction: float = 0.5
    prevalence: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PREVALENCE))
    multi_fraction: float = 0.25
    denoised: bool = False
    noise_sigma: tuple[float, float] = (3.0, 6.0)
    fov_mm: float = 230.0
    slice_thickness: float = 5.0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.size < 32:
            raise ValueError(f"size must be >= 32, got {self.size}")
        if not 4 <= self.slices_min <= self.slices_max:
            raise ValueError(f"need 4 <= slices_min <= slices_max, got {self.slices_min}, {self.slices_max}")
        for name in ("negative_fraction", "multi_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        lo, hi = self.noise_sigma
        if not 0 <= lo <= hi:
            raise ValueError(f"noise_sigma must be (low, high) with 0 <= low <= high, got {self.noise_sigma}")
        full = dict.fromkeys(SUBTYPES, 0.0) | dict(_check_prevalence(self.prevalence))
        object.__setattr__(self, "prevalence", full)

    @property
    def pixel_spacing(self) -> float:
        """In-plane pixel spacing in mm."""
        return self.fov_mm / self.size

    @property
    def min_area_px(self) -> int:
        """Fewest mask pixels that make a slice positive (``MIN_AREA_MM2`` at this spacing, at least 1)."""
        return max(1, round(MIN_AREA_MM2 / self.pixel_spacing**2))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options."""
        out = asdict(self)
        out["prevalence"] = dict(self.prevalence)
        out["noise_sigma"] = list(self.noise_sigma)
        return out
