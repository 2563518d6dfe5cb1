"""Haemorrhage models: shape, place and attenuation of each subtype, rendered with partial volume.

Every lesion is a 3D shape in the head frame. On a slice its fraction map is the mean, over ``SUB_SAMPLES``
heights inside the 5 mm slab, of an anti-aliased cross-section, so the end slices of a lesion blend lesion and
background. The lesion's HU replaces the tissue in proportion to that fraction.

- EDH: biconvex lens against the inner table (``q = (dtheta/alpha)^2 + depth/h``).
- SDH: crescent along the inner table, long and thin (``q = (dtheta/alpha)^4 + depth/h``).
- SAH: blood filling and distending the sulci of a convexity region, or the basal cisterns and Sylvian
  fissures.
- IVH: dependent layer in the lateral ventricles below a horizontal fluid level (posterior, patient
  supine), or a cast of one lateral ventricle.
- IPH: irregular blob in the basal ganglia, thalamus, a lobe or the cerebellum, with an oedema halo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ml.phantom.anatomy import HeadModel, SliceAnatomy
from ml.phantom.config import LESION_HU, LESION_HU_CLIP_SD
from ml.phantom.shapes import F32, Patch, soft

SUB_SAMPLES = 5


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo * 1.0001)))))


def _wrap(angle: F32 | float) -> F32:
    return np.asarray((np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi, dtype=np.float32)


@dataclass
class Lesion:
    """A haemorrhage in the head frame.

    Attributes:
        id: 1-based lesion number within the case.
        subtype: code from ``ml.labels.SUBTYPES``.
        kind: variant (e.g. ``"convexity"``, ``"basal_ganglia"``, ``"fluid_level"``).
        mean_hu: attenuation of the blood, drawn from the subtype's distribution.
        z_centre: centre height (mm, DICOM z).
        z_half: half extent along z (mm).
        params: shape parameters, in mm and radians, JSON-ready.
    """

    id: int
    subtype: str
    kind: str
    mean_hu: float
    z_centre: float
    z_half: float
    params: dict[str, Any] = field(default_factory=dict)

    def touches(self, z: float, thickness: float) -> bool:
        """Whether the slab of the slice at ``z`` overlaps the lesion."""
        return abs(z - self.z_centre) < self.z_half + thickness / 2

    def sub_z(self, z: float, thickness: float) -> np.ndarray:
        """Relative heights ``(z_k - z_centre) / z_half`` of the sub-samples of the slab at ``z``."""
        offsets = (np.arange(SUB_SAMPLES) + 0.5) / SUB_SAMPLES - 0.5
        return (z + offsets * thickness - self.z_centre) / self.z_half

    def fraction(self, head: HeadModel, sl: SliceAnatomy) -> Patch | None:
        """Blood fraction of every pixel of the slice (``None`` when the slice misses the lesion)."""
        raise NotImplementedError

    def halo(self, head: HeadModel, sl: SliceAnatomy) -> tuple[Patch, float] | None:
        """Oedema fraction and HU around the lesion, if it has a halo."""
        return None


def _slab_mean(q: F32, levels: np.ndarray, eps: float) -> F32:
    """Mean over sub-samples of ``soft(level_k - q)``; ``eps`` is a pixel in units of ``q``."""
    out = np.zeros(q.shape, dtype=np.float32)
    for level in levels:
        if level > 0:
            out += soft(np.float32(level) - q, eps)
    out *= np.float32(1.0 / len(levels))
    return out


class ExtraAxial(Lesion):
    """EDH (lens, ``power`` 2) or SDH (crescent, ``power`` 4) against the inner table."""

    def fraction(self, head: HeadModel, sl: SliceAnatomy) -> Patch | None:
        p = self.params
        u = self.sub_z(sl.z, head.thickness)
        power = p["power"]
        levels = 1.0 - np.abs(u) ** power
        if not np.any(levels > 0):
            return None
        dtheta = np.abs(_wrap(head.theta - np.float32(p["theta"]))) * np.float32(1.0 / p["half_angle"])
        q = dtheta * dtheta
        if power == 4:
            q *= q
        q += np.maximum(sl.db, np.float32(0.0)) * np.float32(1.0 / p["thickness"])
        alpha = _slab_mean(q, levels, head.frame.px / p["thickness"])
        alpha *= sl.cavity
        return Patch(slice(None), slice(None), alpha)


class Subarachnoid(Lesion):
    """SAH in the sulci of a convexity region, or in the basal cisterns and Sylvian fissures."""

    def fraction(self, head: HeadModel, sl: SliceAnatomy) -> Patch | None:
        p = self.params
        u = self.sub_z(sl.z, head.thickness)
        px = head.frame.px
        if self.kind == "basal":
            cover = float(np.mean(np.abs(u) < 1.0))
            if cover <= 0 or not np.any(sl.cisterns):
                return None
            return Patch(slice(None), slice(None), sl.cisterns * np.float32(cover) * sl.cavity)
        levels = 1.0 - u * u
        if not np.any(levels > 0):
            return None
        dtheta = _wrap(head.theta - np.float32(p["theta"])) * np.float32(1.0 / p["half_angle"])
        region = _slab_mean(dtheta * dtheta, levels, 0.15)
        blood = soft(np.float32(p["distension"]) - sl.e_csf, px)
        blood *= region
        blood *= sl.cavity
        return Patch(slice(None), slice(None), blood)


class Intraventricular(Lesion):
    """IVH: a dependent layer below a horizontal fluid level, or a cast of one lateral ventricle."""

    def fraction(self, head: HeadModel, sl: SliceAnatomy) -> Patch | None:
        p = self.params
        cover = float(np.mean(np.abs(self.sub_z(sl.z, head.thickness)) < 1.0))
        parts = [sl.ventricles[name] for name in p["ventricles"] if name in sl.ventricles]
        if cover <= 0 or not parts:
            return None
        alpha = np.maximum.reduce(parts) if len(parts) > 1 else parts[0].copy()
        if self.kind == "fluid_level":
            alpha *= soft(head.frame.y - np.float32(p["level_y"]), head.frame.px)
        alpha *= np.float32(cover)
        return Patch(slice(None), slice(None), alpha)


class Intraparenchymal(Lesion):
    """IPH: an irregular ellipsoidal blob with an oedema halo."""

    def _q(self, head: HeadModel, reach: float) -> tuple[slice, slice, F32]:
        p = self.params
        rows, cols, dx, dy = head.frame.local(p["x"], p["y"], reach)
        c, s = np.float32(math.cos(p["angle"])), np.float32(math.sin(p["angle"]))
        u = (c * dx - s * dy) * np.float32(1.0 / p["rx"])
        v = (s * dx + c * dy) * np.float32(1.0 / p["ry"])
        phi = np.arctan2(v, u)
        bumps = np.ones_like(u)
        for k, amp, ph in p["harmonics"]:
            bumps += np.float32(amp) * np.cos(np.float32(k) * phi + np.float32(ph))
        # float32 like u, v and bumps; the stubs widen the division to float64.
        return rows, cols, cast(F32, np.sqrt(u * u + v * v) / bumps)

    def _blob(self, head: HeadModel, sl: SliceAnatomy, grow: float) -> Patch | None:
        p = self.params
        u = self.sub_z(sl.z, head.thickness)
        levels = np.sqrt(np.clip(1.0 - u * u, 0.0, None)) * grow
        if not np.any(levels > 0):
            return None
        reach = max(p["rx"], p["ry"]) * grow * 1.6 + 2 * head.frame.px
        rows, cols, q = self._q(head, reach)
        if q.size == 0:
            return None
        eps = head.frame.px / min(p["rx"], p["ry"])
        alpha = _slab_mean(q, levels, eps) * sl.cavity[rows, cols]
        return Patch(rows, cols, alpha)

    def fraction(self, head: HeadModel, sl: SliceAnatomy) -> Patch | None:
        return self._blob(head, sl, 1.0)

    def halo(self, head: HeadModel, sl: SliceAnatomy) -> tuple[Patch, float] | None:
        p = self.params
        if p["halo"] <= 0:
            return None
        patch = self._blob(head, sl, 1.0 + p["halo"])
        return (patch, p["halo_hu"]) if patch is not None else None


def _mean_hu(rng: np.random.Generator, subtype: str) -> float:
    mean, sd = LESION_HU[subtype]
    return float(np.clip(rng.normal(mean, sd), mean - LESION_HU_CLIP_SD * sd, mean + LESION_HU_CLIP_SD * sd))


def _height(rng: np.random.Generator, head: HeadModel, lo: float, hi: float) -> float:
    """A height in ``[lo, hi]`` clipped to the heights the series covers (with a half-slab margin)."""
    cov_lo, cov_hi = head.a_range()
    margin = 0.5 * head.thickness / head.height
    lo, hi = max(lo, cov_lo + margin), min(hi, cov_hi - margin)
    if lo > hi:
        lo = hi = min(max((lo + hi) / 2, cov_lo + margin), cov_hi - margin)
    return float(rng.uniform(lo, hi))


def _lateral_angle(rng: np.random.Generator, spread: float) -> float:
    side = 0.0 if rng.uniform() < 0.5 else math.pi
    return float(_wrap(side + rng.uniform(-spread, spread)))


def sample_extra_axial(
    rng: np.random.Generator, head: HeadModel, lesion_id: int, subtype: str, opposite: float | None = None
) -> Lesion:
    """An EDH lens or SDH crescent on a lateral convexity (facing ``opposite`` + pi when given)."""
    px = head.frame.px
    a = _height(rng, head, 0.38, 0.82)
    theta = _lateral_angle(rng, 1.1)
    if opposite is not None:
        theta = float(_wrap(opposite + math.pi + rng.uniform(-0.4, 0.4)))
    radius = head.inner_radius_at(a, theta)
    if subtype == "EDH":
        thickness = _log_uniform(rng, max(3.0, 1.6 * px), 26.0)
        arc = rng.uniform(max(14.0, 3 * px), 45.0) + thickness
        z_half = rng.uniform(max(7.0, 1.2 * thickness), max(22.0, 1.4 * thickness))
        power = 2
    else:
        thickness = _log_uniform(rng, max(2.0, 1.4 * px), 16.0)
        arc = rng.uniform(35.0, 95.0)
        z_half = rng.uniform(14.0, 38.0)
        power = 4
    params = {
        "theta": theta,
        "half_angle": min(arc / max(radius, 20.0), 1.6),
        "thickness": thickness,
        "power": power,
    }
    kind = "lens" if power == 2 else "crescent"
    return ExtraAxial(lesion_id, subtype, kind, _mean_hu(rng, subtype), head.z_at(a), z_half, params)


def sample_sah(rng: np.random.Generator, head: HeadModel, lesion_id: int, basal: bool = True) -> Lesion:
    """Convexity (sulcal) or, when ``basal`` allows, basal (cisternal) SAH."""
    px = head.frame.px
    cov_lo, _ = head.a_range()
    if basal and rng.uniform() < 0.35 and cov_lo < 0.36:
        a = _height(rng, head, 0.26, 0.4)
        z_half = rng.uniform(6.0, 16.0)
        params: dict[str, Any] = {}
        return Subarachnoid(lesion_id, "SAH", "basal", _mean_hu(rng, "SAH"), head.z_at(a), z_half, params)
    a = _height(rng, head, 0.45, 0.92)
    theta = float(rng.uniform(-math.pi, math.pi))
    params = {
        "theta": theta,
        "half_angle": float(rng.uniform(0.3, 0.9)),
        "distension": float(rng.uniform(0.25, 0.8) + 0.35 * px),
    }
    z_half = rng.uniform(max(6.0, 0.5 * head.thickness), 24.0)
    return Subarachnoid(lesion_id, "SAH", "convexity", _mean_hu(rng, "SAH"), head.z_at(a), z_half, params)


def sample_ivh(rng: np.random.Generator, head: HeadModel, lesion_id: int) -> Lesion:
    """IVH layering in the occipital horns, or casting one lateral ventricle."""
    sides = ["left", "right"]
    if rng.uniform() < 0.7:
        chosen = sides if rng.uniform() < 0.6 else [sides[int(rng.integers(2))]]
        a = _height(rng, head, 0.44, 0.5)
        level_head = (22.0 + rng.uniform(-3.0, 8.0)) * head.sf
        _, level_y = head.frame.to_image(0.0, level_head)
        params: dict[str, Any] = {"ventricles": chosen, "level_y": level_y}
        z_half = rng.uniform(5.0, 12.0)
        return Intraventricular(
            lesion_id, "IVH", "fluid_level", _mean_hu(rng, "IVH"), head.z_at(a), z_half, params
        )
    chosen = [sides[int(rng.integers(2))]] + (["third"] if rng.uniform() < 0.5 else [])
    a = _height(rng, head, 0.45, 0.58)
    params = {"ventricles": chosen}
    z_half = rng.uniform(8.0, 22.0)
    return Intraventricular(lesion_id, "IVH", "cast", _mean_hu(rng, "IVH"), head.z_at(a), z_half, params)


def sample_iph(rng: np.random.Generator, head: HeadModel, lesion_id: int) -> Lesion:
    """IPH, most often in the basal ganglia, otherwise thalamic, lobar or cerebellar."""
    sf, px = head.sf, head.frame.px
    side = 1.0 if rng.uniform() < 0.5 else -1.0
    cov_lo, _ = head.a_range()
    roll = rng.uniform()
    radius = _log_uniform(rng, max(2.5, 1.3 * px), 22.0)
    if roll < 0.1 and cov_lo < 0.14:
        kind, a = "cerebellar", _height(rng, head, 0.12, 0.2)
        x, y = side * rng.uniform(12, 26) * sf, rng.uniform(28, 40) * sf
        radius = min(radius, 14.0)
    elif roll < 0.55:
        kind, a = "basal_ganglia", _height(rng, head, 0.42, 0.5)
        x, y = side * rng.uniform(19, 27) * sf, rng.uniform(-6, 4) * sf
        radius = min(radius, 20.0)
    elif roll < 0.7:
        kind, a = "thalamic", _height(rng, head, 0.41, 0.49)
        x, y = side * rng.uniform(7, 13) * sf, rng.uniform(7, 15) * sf
        radius = min(radius, 14.0)
    else:
        kind, a = "lobar", _height(rng, head, 0.42, 0.85)
        theta = float(rng.uniform(-math.pi, math.pi))
        depth = rng.uniform(8.0, 22.0) + radius
        dist = max(head.inner_radius_at(a, theta) - depth, 0.0)
        x, y = dist * math.cos(theta), dist * math.sin(theta)
    harmonics = [(k, float(rng.uniform(0.0, 0.12)), float(rng.uniform(0, 2 * np.pi))) for k in (2, 3, 5)]
    halo = float(rng.uniform(0.0, 0.6)) if rng.uniform() < 0.8 else 0.0
    params = {
        "x": float(x),
        "y": float(y),
        "rx": radius,
        "ry": radius * float(rng.uniform(0.65, 1.3)),
        "angle": float(rng.uniform(0, np.pi)),
        "harmonics": harmonics,
        "halo": halo,
        "halo_hu": float(rng.uniform(18.0, 26.0)),
    }
    z_half = max(radius * float(rng.uniform(0.7, 1.2)), 2.5)
    return Intraparenchymal(lesion_id, "IPH", kind, _mean_hu(rng, "IPH"), head.z_at(a), z_half, params)


#: Painting order: extra-axial first, parenchyma and ventricles last (they sit on top).
PAINT_ORDER = ("EDH", "SDH", "SAH", "IPH", "IVH")


def sample_lesions(rng: np.random.Generator, head: HeadModel, subtypes: list[str]) -> list[Lesion]:
    """Lesions for the case's subtypes (SDH sometimes bilateral, SAH or IPH sometimes twice)."""
    lesions: list[Lesion] = []
    for subtype in sorted(subtypes, key=PAINT_ORDER.index):
        count = 2 if subtype in ("SDH", "SAH", "IPH") and rng.uniform() < 0.15 else 1
        for _ in range(count):
            lesion_id = len(lesions) + 1
            if subtype in ("EDH", "SDH"):
                twin = lesions[-1].params["theta"] if lesions and lesions[-1].subtype == subtype else None
                lesions.append(sample_extra_axial(rng, head, lesion_id, subtype, twin))
            elif subtype == "SAH":
                first = not any(lesion.subtype == "SAH" for lesion in lesions)
                lesions.append(sample_sah(rng, head, lesion_id, basal=first))
            elif subtype == "IVH":
                lesions.append(sample_ivh(rng, head, lesion_id))
            else:
                lesions.append(sample_iph(rng, head, lesion_id))
    return lesions
