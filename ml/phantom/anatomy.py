"""Normal head anatomy in Hounsfield units, one axial slice at a time.

The head is an egg-shaped ellipsoid whose cross-section changes with the height ``a`` (0 near the skull base,
1 at the vertex). Every slice is built from the depth below the skin along rays from the head centre:
scalp, outer table, diploe, inner table, dura, a CSF gap, cortex with sulci, white matter; then the deep
structures (basal ganglia, ventricles, cisterns), the skull base (face, sphenoid, clivus, petrous ridges,
orbital roofs) and bleed mimics (calcified pineal and choroid plexus, partial-volume bone). Edges are
anti-aliased with a one-pixel ramp, and the obliquely cut skull near the vertex is thicker and blurred, as a
5 mm slab would make it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from ml.phantom.shapes import F32, Frame, Patch, SmoothField, capsule, ellipse, norm2, soft, z_profile

AIR = -1000.0
SOFT_TISSUE = 35.0
FAT = -80.0
BONE = 1100.0


@dataclass
class SliceAnatomy:
    """One rendered slice of normal anatomy and the fields lesions are placed with.

    Attributes:
        hu: HU image (float32, before noise).
        a: height of the slice centre in the head, 0 skull base, 1 vertex.
        z: slice position in mm (DICOM z).
        db: depth below the inner table in mm, along rays from the head centre (< 0 in bone and outside).
        cavity: fraction of intracranial space (inside the inner table, not face or skull-base bone).
        e_csf: signed distance (mm) to the convexity CSF (surface gap, sulci, interhemispheric fissure);
            < 0 inside CSF.
        cisterns: fraction of basal cistern and Sylvian fissure CSF.
        ventricles: fraction maps of the lateral (``left``/``right``), ``third`` and ``fourth`` ventricles
            present on this slice.
    """

    hu: F32
    a: float
    z: float
    db: F32
    cavity: F32
    e_csf: F32
    cisterns: F32
    ventricles: dict[str, F32] = field(default_factory=dict)


# Lateral-ventricle parts in head mm at unit head size: centre, semi-axes (width, length), tilt (deg),
# height centre and half-height.
_VENTRICLE_PARTS = (
    ((9.0, -18.0), (4.5, 10.0), -28.0, 0.52, 0.10),  # frontal horn
    ((11.0, 4.0), (4.0, 16.0), 6.0, 0.61, 0.09),  # body
    ((17.0, 22.0), (6.5, 9.0), -15.0, 0.48, 0.09),  # atrium (trigone)
    ((14.5, 34.0), (3.0, 9.0), 20.0, 0.45, 0.06),  # occipital horn
    ((28.0, 2.0), (2.0, 7.0), -10.0, 0.31, 0.05),  # temporal horn
)
# Deep grey nuclei: centre, semi-axes, tilt, height centre, half-height.
_NUCLEI = (
    ((12.5, -13.0), (4.5, 7.5), -20.0, 0.50, 0.09),  # caudate head
    ((23.0, -1.0), (5.0, 12.5), 12.0, 0.46, 0.08),  # lentiform nucleus
    ((9.5, 11.0), (7.5, 10.0), -10.0, 0.45, 0.07),  # thalamus
)


class HeadModel:
    """One random head: shape, tissue values, ventricle size and mimics, drawn once per case.

    Args:
        rng: the case's anatomy generator.
        n: image size in pixels.
        px: pixel spacing in mm.
        z: slice centre positions in mm, bottom to top.
        thickness: slice thickness in mm.
    """

    def __init__(self, rng: np.random.Generator, n: int, px: float, z: np.ndarray, thickness: float) -> None:
        u = rng.uniform
        self.thickness = thickness
        self.frame = Frame.build(n, px, u(-5, 5), u(-6, 4), math.radians(u(-6, 6)))
        self.z = np.asarray(z, dtype=np.float64)
        height = float(np.clip(len(z) * thickness * u(0.84, 0.94), 120.0, 160.0))
        top = self.z[-1] + thickness * u(0.1, 0.7)
        self.height = height
        self.a = (self.z - (top - height)) / height
        self.half_width = u(69.0, 78.0)
        self.half_length = u(87.0, 98.0)
        self.sf = self.half_width / 74.0
        self.scalp = u(3.5, 5.5)
        self.temporalis = u(2.0, 5.0)
        self.skull = u(5.0, 7.5)
        self.table_hu = u(1000.0, 1150.0)
        self.diploe_hu = u(420.0, 600.0)
        self.grey, self.white, self.csf = u(37.5, 42.0), u(27.5, 31.0), u(8.0, 13.0)
        self.dura_hu = u(45.0, 58.0)
        atrophy = u(0.0, 1.0)
        self.gap = 0.5 + 1.6 * atrophy * u(0.5, 1.0)
        self.sulcus_width = 0.7 + 1.4 * atrophy * u(0.5, 1.0)
        self.vent_scale = u(0.75, 1.1) + 0.5 * atrophy * u(0.3, 1.0)
        self.cortex = u(2.4, 3.2)
        self.gyrus = u(10.5, 14.0)
        self.sulcus_depth = u(5.0, 20.0, size=128).astype(np.float32)
        self.sulcus_half_widths = (u(0.3, 0.7, size=128) * self.sulcus_width).astype(np.float32)
        self.sulcus_phase = (u(0, 2 * np.pi), u(0.8, 2.5), u(0.05, 0.25))
        self.field = SmoothField(rng, n, (0.6, 2.2))
        self.wiggle = SmoothField(rng, n, (3.0, 7.0))
        self.texture_amp = u(0.8, 2.0)
        self.pineal = (u(1.2, 2.6), u(90, 380)) if u() < 0.7 else None
        self.choroid = tuple((u(1.5, 3.0), u(90, 320)) if u() < 0.6 else None for _ in range(2))
        self.orbital_roof = u(0.5, 1.0)
        self.sylvian = u(1.2, 2.4)
        self._theta_fields(rng)

    def _theta_fields(self, rng: np.random.Generator) -> None:
        f = self.frame
        self.r = norm2(f.X, f.Y)
        self.theta = np.arctan2(f.Y, f.X).astype(np.float32)
        c, s = np.cos(self.theta), np.sin(self.theta)
        a, b = self.half_width, self.half_length
        radius = a * b / np.sqrt((b * c) ** 2 + (a * s) ** 2)
        wobble = 1.0 + 0.035 * s
        for k in (2, 3, 4, 5):
            wobble += rng.uniform(-0.012, 0.012) * np.cos(k * self.theta + rng.uniform(0, 2 * np.pi))
        self.outer = (radius * wobble).astype(np.float32)
        self.cos2 = (c * c).astype(np.float32)

    # --- geometry along the height --------------------------------------------------------------------------

    @staticmethod
    def scale(a: float) -> tuple[float, float]:
        """Cross-section scale of the head at height ``a`` and its derivative d(scale)/da."""
        centre = 0.45
        half = 0.58 if a > centre else 0.95
        u = min((a - centre) / half, 0.985)
        s = math.sqrt(1.0 - u * u)
        return s, -u / (half * s)

    def z_at(self, a: float) -> float:
        """Slice position (mm) of height ``a``."""
        return float(self.z[-1] + (a - self.a[-1]) * self.height)

    def a_range(self) -> tuple[float, float]:
        """Heights covered by the series, from the bottom of the lowest slab to the top of the highest."""
        half = 0.5 * self.thickness / self.height
        return float(self.a[0] - half), float(self.a[-1] + half)

    def inner_radius_at(self, a: float, theta: float) -> float:
        """Radius of the inner table (mm from the head centre) at height ``a`` along head angle ``theta``."""
        s, _ = self.scale(a)
        ca, sa = math.cos(theta), math.sin(theta)
        w, h = self.half_width, self.half_length
        radius = w * h / math.sqrt((h * ca) ** 2 + (w * sa) ** 2) * (1.0 + 0.035 * sa)
        return s * radius - self.scalp - self.temporalis * ca * ca - self.skull

    def inner_radius(self, a: float) -> float:
        """Mean radius of the inner table at height ``a`` in mm."""
        s, _ = self.scale(a)
        return s * (self.half_width + self.half_length) / 2 - self.scalp - self.skull

    # --- rendering ------------------------------------------------------------------------------------------

    def render(self, k: int) -> SliceAnatomy:
        """Render slice ``k`` (0 = lowest)."""
        a, z = float(self.a[k]), float(self.z[k])
        f = self.frame
        scale, dscale = self.scale(a)
        slope = abs(dscale) * float(np.mean(self.outer)) / self.height
        oblique = min(math.sqrt(1.0 + slope * slope), 3.5)
        blur = max(f.px, 0.5 * slope * self.thickness)

        d = self.outer * np.float32(scale) - self.r
        scalp = (self.scalp + self.temporalis * self.cos2) * np.float32(oblique)
        temporal = 0.35 * z_profile(a, 0.3, 0.2)
        skull = self.skull * (1.0 - temporal * self.cos2) * np.float32(oblique)
        db = d - scalp - skull
        hu = self._skull_profile(d, scalp, skull, blur)
        brain, e_csf, cisterns = self._brain(a, db)
        np.copyto(hu, brain, where=db >= 0)
        cavity = soft(db, f.px)

        ventricles = self._deep(hu, a)
        self._base(hu, a, cavity)
        self._calcifications(hu, a)
        return SliceAnatomy(hu, a, z, db, cavity, e_csf, cisterns, ventricles)

    def _skull_profile(self, d: F32, scalp: F32, skull: F32, blur: float) -> F32:
        """Scalp and skull along the depth below the skin; ``c`` is 0-1 in the scalp and 1-2 in bone."""
        c = np.where(d < scalp, d / scalp, 1.0 + (d - scalp) / skull)
        es = min(0.5 * blur / self.scalp, 0.12)
        ek = min(0.5 * blur / self.skull, 0.12)
        t, dip = self.table_hu, self.diploe_hu
        knots = [-es, es, 0.22, 0.32, 0.5, 0.62, 1 - ek, 1 + ek, 1.2, 1.36, 1.62, 1.78, 2 - ek, 2.0]
        values = [AIR, 45, 40, 18, 18, 38, 38, t, t, dip, dip, t * 1.04, t * 1.04, self.dura_hu]
        return np.interp(c, knots, values).astype(np.float32)

    def _brain(self, a: float, db: F32) -> tuple[F32, F32, F32]:
        """Inside the inner table: dura, CSF gap, cortex with sulci, white matter, fissures, cisterns."""
        f = self.frame
        px = f.px
        e_csf = np.minimum(db - np.float32(0.8 + self.gap), self._sulci(a, db))
        strip = self._fissure(a, db, e_csf)
        # CSF -> grey over one pixel, grey -> white over ~1.2 mm at the cortical depth.
        grey = soft(e_csf, px)
        white = soft(e_csf - np.float32(self.cortex), 1.2)
        brain = np.float32(self.csf) + grey * np.float32(self.grey - self.csf)
        brain += white * np.float32(self.white - self.grey)
        brain += self.field.at(a) * np.float32(self.texture_amp)
        if strip is not None:
            cols, falx = strip
            view = brain[:, cols]
            view += falx * (np.float32(self.dura_hu + 8) - view)
        cisterns = self._cisterns(a)
        brain += cisterns * (np.float32(self.csf) - brain)
        dura = soft(np.float32(0.8) - db, px)
        brain += dura * (np.float32(self.dura_hu) - brain)
        return brain, e_csf, cisterns

    def _sulci(self, a: float, db: F32) -> F32:
        """Signed distance to sulcal CSF: radial, wiggly clefts with random depth and width."""
        n_sulci = max(8, round(2 * math.pi * max(self.inner_radius(a), 20.0) / self.gyrus))
        ph0, pf, pa = self.sulcus_phase
        step = 2 * math.pi / n_sulci
        shift = pa * math.sin(2 * math.pi * pf * a + ph0)
        u = self.theta + self.wiggle.at(a) * np.float32(0.3 * step)
        u *= np.float32(1.0 / step)
        u += np.float32(shift / step)
        j = np.floor(u + np.float32(0.5))
        ds = np.abs(u - j)
        ds *= self.r
        ds *= np.float32(step)
        idx = j.astype(np.intp)
        idx += len(self.sulcus_depth) // 2
        depth = np.take(self.sulcus_depth, idx, mode="wrap")
        depth *= np.float32(0.6 + 0.4 * min(1.0, a / 0.3))
        base = np.maximum(db - np.float32(0.8 + self.gap) - depth, np.float32(0.0))
        out = norm2(ds, base)
        out -= np.take(self.sulcus_half_widths, idx, mode="wrap")
        return out

    def _fissure_depth(self, a: float) -> float:
        """Depth of the interhemispheric fissure below the inner table (all the way above the callosum)."""
        if a < 0.25:
            return 0.0
        return 500.0 if a > 0.66 else 0.4 * self.inner_radius(a)

    def _fissure(self, a: float, db: F32, e_csf: F32) -> tuple[slice, F32] | None:
        """Interhemispheric fissure: folds its CSF into ``e_csf`` on the midline strip; returns the falx."""
        depth = self._fissure_depth(a)
        if depth <= 0:
            return None
        f = self.frame
        reach = 4.0 + abs(math.sin(f.angle)) * f.n * f.px / 2
        half = (f.n - 1) / 2
        c0 = max(0, int((f.cx - reach) / f.px + half))
        c1 = min(f.n, int((f.cx + reach) / f.px + half) + 1)
        cols = slice(c0, max(c0, c1))
        ax = np.abs(f.X[:, cols])
        inside = db[:, cols] - np.float32(depth)
        base = np.maximum(inside, np.float32(0.0))
        fissure = norm2(ax, base) - np.float32(0.5 + 0.4 * self.sulcus_width)
        view = e_csf[:, cols]
        np.minimum(view, fissure, out=view)
        return cols, soft(np.float32(0.45) - ax, f.px) * soft(-inside, f.px)

    def _cisterns(self, a: float) -> F32:
        """Suprasellar star, ambient cistern ring around the midbrain and Sylvian fissures."""
        f, sf = self.frame, self.sf
        out = np.zeros(f.X.shape, dtype=np.float32)
        p = z_profile(a, 0.28, 0.06)
        if p > 0:
            rows, cols, dx, dy = f.local(0.0, -8 * sf, 16 * sf)
            # float32 like dx and dy: Python scalars keep an array's dtype (NEP 50); the stubs say float64.
            star = cast(F32, 10.0 * sf * p * (1 + 0.3 * np.cos(5 * np.arctan2(dy, dx) + np.pi / 2)))
            Patch(rows, cols, soft(star - norm2(dx, dy), f.px)).union_into(out)
        p = z_profile(a, 0.34, 0.08)
        if p > 0:
            rows, cols, dx, dy = f.local(0.0, 12 * sf, 20 * sf)
            rr = norm2(dx, dy)
            inner = 10.5 * sf * (0.6 + 0.4 * p)
            width = 1.8 + 1.5 * np.clip(dy / (12 * sf), 0, 1)
            Patch(rows, cols, soft(rr - inner, f.px) * soft(inner + width - rr, f.px)).union_into(out)
        p = z_profile(a, 0.39, 0.09)
        if p > 0:
            for side in (-1.0, 1.0):
                lateral = side * (self.inner_radius(a) * 0.8)
                got = capsule(f, (lateral, -12 * sf), (side * 27 * sf, -3 * sf), self.sylvian * p, 1.0 * p)
                if got is not None:
                    got[0].union_into(out)
        return out

    def _deep(self, hu: F32, a: float) -> dict[str, F32]:
        """Basal ganglia and thalami (grey), then ventricles (CSF). Returns the ventricle fraction maps."""
        f, sf, vs = self.frame, self.sf, self.vent_scale
        shape = hu.shape
        deep_grey = np.float32(self.grey - 2.5)
        for (cx, cy), (ax, ay), tilt, ac, ah in _NUCLEI:
            p = z_profile(a, ac, ah)
            for side in (-1.0, 1.0):
                patch = ellipse(
                    f, side * cx * sf, cy * sf, ax * sf * p, ay * sf * p, side * math.radians(tilt)
                )
                if patch is not None:
                    patch.paint(hu, deep_grey)
        ventricles: dict[str, F32] = {}
        for side, name in ((1.0, "left"), (-1.0, "right")):
            parts = []
            for (cx, cy), (ax, ay), tilt, ac, ah in _VENTRICLE_PARTS:
                p = z_profile(a, ac, ah)
                width, length = ax * sf * vs * p, ay * sf * math.sqrt(vs) * p
                patch = ellipse(
                    f, side * cx * sf * (0.8 + 0.2 * vs), cy * sf, width, length, side * math.radians(tilt)
                )
                if patch is not None:
                    parts.append(patch)
            if parts:
                vent = np.zeros(shape, dtype=np.float32)
                for patch in parts:
                    patch.union_into(vent)
                ventricles[name] = vent
        for name, (cx, cy), (ax, ay), ac, ah in (
            ("third", (0.0, 4.0), (1.4, 9.0), 0.43, 0.07),
            ("fourth", (0.0, 32.0), (5.5, 4.0), 0.18, 0.08),
        ):
            p = z_profile(a, ac, ah)
            patch = ellipse(f, cx, cy * sf, ax * sf * math.sqrt(vs) * p, ay * sf * p)
            if patch is not None:
                ventricles[name] = patch.full(shape)
        csf = np.float32(self.csf)
        for vent in ventricles.values():
            hu += vent * (csf - hu)
        return ventricles

    def _base(self, hu: F32, a: float, cavity: F32) -> None:
        """Skull base: face, sinuses, sphenoid and clivus, petrous ridges and partial-volume orbital roofs."""
        f, sf = self.frame, self.sf
        if a < 0.26:
            self._face(hu, a, cavity)
        p = z_profile(a, 0.05, 0.22)
        clivus = ellipse(f, 0.0, 2 * sf, 7 * sf * p, 11 * sf * p)
        if clivus is not None:
            clivus.paint(hu, np.float32(650.0), min(1.0, 2.5 * p))
            _remove(cavity, clivus, min(1.0, 2.5 * p))
        for side in (-1.0, 1.0):
            lateral = (side * 52 * sf, 20 * sf)
            medial = (side * 15 * sf, -2 * sf)
            got = capsule(f, lateral, medial, 5.5 * sf, 2.0 * sf)
            if got is None:
                continue
            patch, t = got
            top = 0.27 - 0.06 * t
            frac = np.clip((top - a) / 0.05, 0.0, 1.0) * np.clip((a + 0.12) / 0.08, 0.0, 1.0)
            bone = Patch(patch.rows, patch.cols, (patch.alpha * frac).astype(np.float32))
            bone.paint(hu, np.float32(BONE))
            _remove(cavity, bone)
        roof = z_profile(a, 0.22, 0.07) * self.orbital_roof
        if roof > 0:
            tex = self.wiggle.at(a + 0.5)
            for side in (-1.0, 1.0):
                orbit = ellipse(f, side * 20 * sf, -(self.inner_radius(a) - 12), 13 * sf, 7 * sf)
                if orbit is not None:
                    frac = np.clip(roof * (0.12 + 0.12 * tex[orbit.rows, orbit.cols]), 0, 1)
                    Patch(orbit.rows, orbit.cols, orbit.alpha * frac).paint(hu, np.float32(700.0))

    def _face(self, hu: F32, a: float, cavity: F32) -> None:
        """Below the anterior cranial fossa: soft tissue, orbits, ethmoid/sphenoid air, maxillary sinuses."""
        f, sf = self.frame, self.sf
        mid = float(np.interp(a, [-0.2, 0.0, 0.12, 0.26], [20.0, 4.0, -22.0, -95.0])) * sf
        lateral = float(np.interp(a, [-0.2, 0.0, 0.12, 0.26], [0.0, -20.0, -45.0, -95.0])) * sf
        boundary = lateral + (mid - lateral) * np.exp(-((f.X / (22 * sf)) ** 2))
        face = soft(boundary - f.Y, f.px) * cavity
        hu += face * (np.float32(SOFT_TISSUE) - hu)
        wall = soft(boundary + 3.0 - f.Y, f.px) * soft(f.Y - boundary + 1.0, f.px) * cavity
        hu += wall * (np.float32(800.0) - hu)
        cavity *= 1.0 - soft(boundary + 2.0 - f.Y, f.px)
        shapes: list[tuple[float, float, float, float, float]] = []
        p = z_profile(a, 0.12, 0.1)
        if p > 0:
            shapes += [(s * 31, -62, 16 * p, 14 * p, FAT) for s in (-1, 1)]
            shapes += [(s * 32, -70, 11 * p, 11 * p, 12.0) for s in (-1, 1)]
            shapes += [(0, -58, 6 * p, 18 * p, AIR)]
        p = z_profile(a, 0.1, 0.1)
        if p > 0:
            shapes += [(0, -22, 11 * p, 9 * p, AIR)]
        p = z_profile(a, -0.12, 0.12)
        if p > 0:
            shapes += [(s * 26, -50, 14 * p, 17 * p, AIR) for s in (-1, 1)]
        for cx, cy, ax, ay, value in shapes:
            patch = ellipse(f, cx * sf, cy * sf, ax * sf, ay * sf)
            if patch is not None:
                Patch(patch.rows, patch.cols, patch.alpha * face[patch.rows, patch.cols]).paint(
                    hu, np.float32(value)
                )

    def _calcifications(self, hu: F32, a: float) -> None:
        """Calcified pineal gland and choroid plexus glomera: bright dots, partial volume by height."""
        f, sf = self.frame, self.sf
        dots = []
        if self.pineal is not None:
            dots.append((0.0, 19 * sf, 0.47, *self.pineal))
        for side, glom in zip((-1.0, 1.0), self.choroid, strict=True):
            if glom is not None:
                dots.append((side * 17 * sf * (0.8 + 0.2 * self.vent_scale), 24 * sf, 0.5, *glom))
        for cx, cy, ac, radius, value in dots:
            frac = _slab_overlap(a, ac, radius / self.height, self.thickness / self.height)
            patch = ellipse(f, cx, cy, radius, radius * 1.1)
            if patch is not None and frac > 0:
                patch.paint(hu, np.float32(value), frac)


def _remove(cavity: F32, patch: Patch, strength: float = 1.0) -> None:
    view = cavity[patch.rows, patch.cols]
    view *= 1.0 - patch.alpha * np.float32(strength)


def _slab_overlap(a: float, centre: float, half: float, slab: float) -> float:
    """Fraction of a slab of height ``slab`` centred at ``a`` filled by an interval ``centre +/- half``."""
    lo, hi = max(a - slab / 2, centre - half), min(a + slab / 2, centre + half)
    return max(0.0, hi - lo) / slab
