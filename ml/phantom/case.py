"""One synthetic case in memory: HU volume, labels, lesion masks and bleeding points.

Label rule. A pixel belongs to a lesion's mask when the lesion fills at least ``MASK_FRACTION`` (0.25) of its
voxel. A slice is positive for a lesion when that mask covers at least ``PhantomConfig.min_area_px`` pixels
(``MIN_AREA_MM2`` = 4 pixels at 512 px / 230 mm, at least 1 pixel); masks are kept on positive slices only, so
a slice is positive for subtype c exactly when some mask of subtype c is non-empty on it. ANY is the OR of the
five subtypes. A bleeding point is placed for every connected part of a mask (8-connectivity, at least the
minimum area, the ``MAX_POINTS`` largest) at the mask pixel nearest to the part's centroid, so it always lies
inside the lesion even for a crescent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ml.labels import LABELS, SUBTYPES
from ml.phantom.anatomy import HeadModel
from ml.phantom.config import MASK_FRACTION, PhantomConfig
from ml.phantom.identity import CaseUIDs, PatientIdentity, make_identity, make_uids
from ml.phantom.lesions import Lesion, sample_lesions

HU_MIN, HU_MAX = -1024, 3071
MAX_POINTS = 5
MAX_ATTEMPTS = 8
_STREAMS = {"plan": 0, "anatomy": 1, "noise": 2, "identity": 3}


def case_rng(seed: int, index: int, stream: str | int, attempt: int = 0) -> np.random.Generator:
    """The generator of one part of case ``index``; independent of how many cases a dataset has."""
    key = _STREAMS[stream] if isinstance(stream, str) else stream
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, key, attempt)))


@dataclass(frozen=True)
class BleedingPoint:
    """Centre of a haemorrhage part on one slice, in pixels (``x`` column, ``y`` row)."""

    slice: int
    x: int
    y: int
    subtype: str
    lesion: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready point (without the slice, which the enclosing slice record gives)."""
        return {"x": self.x, "y": self.y, "subtype": self.subtype, "lesion": self.lesion}


@dataclass(frozen=True)
class LesionTruth:
    """Ground truth of one lesion: where it is, how dense, which slices it makes positive."""

    id: int
    subtype: str
    kind: str
    slices: tuple[int, ...]
    mean_hu: float
    z_centre: float
    z_half: float
    volume_ml: float
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lesion record."""
        return {
            "id": self.id,
            "subtype": self.subtype,
            "kind": self.kind,
            "slices": list(self.slices),
            "mean_hu": round(self.mean_hu, 2),
            "z_centre_mm": round(self.z_centre, 2),
            "z_half_extent_mm": round(self.z_half, 2),
            "volume_ml": round(self.volume_ml, 3),
            "params": _jsonable(self.params),
        }


@dataclass(frozen=True, eq=False)
class PhantomCase:
    """A generated case.

    Attributes:
        case_id: ``case0001`` for index 0.
        index: case number within the dataset (0-based).
        seed: dataset seed.
        hu: int16 HU volume ``(Z, H, W)``, slice 0 lowest (skull base).
        labels: uint8 ``(Z, 6)`` in ``ml.labels.LABELS`` order; ANY = OR of the subtypes.
        lesions: ground truth of each lesion.
        points: bleeding points of every positive slice, ordered by slice, then lesion.
        masks: lesion id -> bool ``(Z, H, W)`` mask (non-empty only on the lesion's positive slices).
        spacing: voxel size ``(z, y, x)`` in mm.
        z_positions: slice positions (DICOM z, mm).
        noise_sigma: SD of the scanner noise in HU.
        patient: the invented identity.
        uids: DICOM UIDs.
        denoised: 3x3 median-filtered ``hu`` when asked for, else ``None``.
    """

    case_id: str
    index: int
    seed: int
    hu: NDArray[np.int16]
    labels: NDArray[np.uint8]
    lesions: tuple[LesionTruth, ...]
    points: tuple[BleedingPoint, ...]
    masks: dict[int, NDArray[np.bool_]]
    spacing: tuple[float, float, float]
    z_positions: tuple[float, ...]
    noise_sigma: float
    patient: PatientIdentity
    uids: CaseUIDs
    denoised: NDArray[np.int16] | None = None

    @property
    def n_slices(self) -> int:
        """Number of axial slices."""
        return int(self.hu.shape[0])

    @property
    def subtypes(self) -> tuple[str, ...]:
        """Subtypes positive on at least one slice, in ``SUBTYPES`` order (case-level label)."""
        return tuple(s for i, s in enumerate(SUBTYPES) if self.labels[:, i].any())

    def points_on(self, k: int) -> list[BleedingPoint]:
        """The bleeding points of slice ``k``."""
        return [p for p in self.points if p.slice == k]


def plan_subtypes(rng: np.random.Generator, config: PhantomConfig) -> list[str]:
    """Subtypes of a case: none (negative), or a primary one plus, for a multi case, one or two more."""
    if rng.uniform() < config.negative_fraction:
        return []
    names = list(SUBTYPES)
    weights = np.array([config.prevalence[s] for s in names], dtype=np.float64)
    first = int(rng.choice(len(names), p=weights / weights.sum()))
    chosen = [names[first]]
    if rng.uniform() < config.multi_fraction:
        weights[first] = 0.0
        extra = min(int(np.count_nonzero(weights)), 1 if rng.uniform() < 0.7 else 2)
        if extra:
            more = rng.choice(len(names), size=extra, replace=False, p=weights / weights.sum())
            chosen += [names[int(i)] for i in more]
    return chosen


def plan_case(config: PhantomConfig, index: int) -> tuple[HeadModel, list[str]]:
    """The normal head (slice count and positions included) and the planned subtypes of case ``index``.

    Exposed so that tests and tools can look at the anatomy maps (``HeadModel.render``) of a generated case.
    """
    plan = case_rng(config.seed, index, "plan")
    n_slices = int(plan.integers(config.slices_min, config.slices_max + 1))
    subtypes = plan_subtypes(plan, config)
    thickness = config.slice_thickness
    z0 = thickness / 2 * int(plan.integers(-36, -16))
    z = z0 + thickness * np.arange(n_slices)
    head = HeadModel(case_rng(config.seed, index, "anatomy"), config.size, config.pixel_spacing, z, thickness)
    return head, subtypes


def generate_case(config: PhantomConfig, index: int) -> PhantomCase:
    """Generate case ``index`` of the dataset described by ``config``, in memory.

    The same ``(config, index)`` always gives the same pixels, labels and UIDs.
    """
    head, subtypes = plan_case(config, index)
    n_slices, thickness, z = len(head.z), head.thickness, head.z

    for attempt in range(MAX_ATTEMPTS):
        lesions = sample_lesions(case_rng(config.seed, index, 4, attempt), head, subtypes)
        volume, masks, volumes = _render(head, lesions, config.min_area_px)
        if all(masks[lesion.id].any() for lesion in lesions):
            break
    kept = [lesion for lesion in lesions if masks[lesion.id].any()]
    masks = {lesion.id: masks[lesion.id] for lesion in kept}

    noise_rng = case_rng(config.seed, index, "noise")
    sigma = float(noise_rng.uniform(*config.noise_sigma))
    volume += _scanner_noise(noise_rng, volume.shape, sigma)
    hu = np.clip(np.rint(volume), HU_MIN, HU_MAX).astype(np.int16)

    labels = np.zeros((n_slices, len(LABELS)), dtype=np.uint8)
    for lesion in kept:
        labels[:, SUBTYPES.index(lesion.subtype)] |= masks[lesion.id].any(axis=(1, 2))
    labels[:, -1] = labels[:, : len(SUBTYPES)].max(axis=1)
    truths = tuple(_truth(lesion, masks[lesion.id], volumes[lesion.id]) for lesion in kept)
    found = [p for lesion in kept for p in bleeding_points(lesion, masks[lesion.id], config.min_area_px)]
    points = tuple(sorted(found, key=lambda p: (p.slice, p.lesion)))

    denoised = median3x3(hu) if config.denoised else None
    return PhantomCase(
        case_id=f"case{index + 1:04d}",
        index=index,
        seed=config.seed,
        hu=hu,
        labels=labels,
        lesions=truths,
        points=points,
        masks=masks,
        spacing=(thickness, config.pixel_spacing, config.pixel_spacing),
        z_positions=tuple(round(float(v), 3) for v in z),
        noise_sigma=sigma,
        patient=make_identity(case_rng(config.seed, index, "identity"), config.seed, index),
        uids=make_uids(config, index, n_slices),
        denoised=denoised,
    )


def _render(
    head: HeadModel, lesions: list[Lesion], min_area: int
) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, float]]:
    """Anatomy plus lesions, slice by slice; masks thresholded at ``MASK_FRACTION`` and the minimum area."""
    n, z_count = head.frame.n, len(head.z)
    volume = np.empty((z_count, n, n), dtype=np.float32)
    masks = {lesion.id: np.zeros((z_count, n, n), dtype=bool) for lesion in lesions}
    volumes = dict.fromkeys(masks, 0.0)
    voxel_ml = head.frame.px**2 * head.thickness / 1000.0
    for k in range(z_count):
        sl = head.render(k)
        for lesion in lesions:
            if not lesion.touches(sl.z, head.thickness):
                continue
            halo = lesion.halo(head, sl)
            if halo is not None:
                halo[0].paint(sl.hu, np.float32(halo[1]))
            patch = lesion.fraction(head, sl)
            if patch is None:
                continue
            patch.paint(sl.hu, np.float32(lesion.mean_hu))
            mask = patch.alpha >= MASK_FRACTION
            if np.count_nonzero(mask) >= min_area:
                masks[lesion.id][k, patch.rows, patch.cols] = mask
                volumes[lesion.id] += float(patch.alpha.sum()) * voxel_ml
        volume[k] = sl.hu
    return volume, masks, volumes


def _scanner_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian noise of SD ``sigma``, slightly correlated in-plane (blurred, then rescaled)."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise = cast(NDArray[np.float32], ndimage.gaussian_filter(noise, sigma=(0.0, 0.6, 0.6), truncate=3.0))
    noise *= np.float32(sigma / float(noise.std()))
    return noise


# Exchange network that leaves the median of 9 values in position 4 (19 compare-exchanges).
_MEDIAN9 = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)  # fmt: skip


def median3x3(volume: NDArray[np.int16]) -> NDArray[np.int16]:
    """In-plane 3x3 median of every slice (M4 denoising; docs/science.md, "Augmentation"), edges mirrored.

    Equal to ``scipy.ndimage.median_filter(volume, size=(1, 3, 3))`` and ~10x faster: a sorting network of
    element-wise min/max over the nine shifted copies.
    """
    padded = np.pad(volume, ((0, 0), (1, 1), (1, 1)), mode="symmetric")
    h, w = volume.shape[1:]
    p = [padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)]
    for a, b in _MEDIAN9:
        p[a], p[b] = np.minimum(p[a], p[b]), np.maximum(p[a], p[b])
    return np.ascontiguousarray(p[4])


def bleeding_points(lesion: Lesion, mask: np.ndarray, min_area: int) -> list[BleedingPoint]:
    """One point per connected part of the lesion on each slice, at the part's pixel nearest its centroid."""
    points: list[BleedingPoint] = []
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        rows = np.flatnonzero(mask[k].any(axis=1))
        cols = np.flatnonzero(mask[k].any(axis=0))
        crop = mask[k, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        parts, count = ndimage.label(crop, structure=np.ones((3, 3), dtype=bool))
        sizes = np.bincount(parts.ravel(), minlength=count + 1)[1:]
        order = [int(i) + 1 for i in np.argsort(-sizes, kind="stable") if sizes[i] >= min_area][:MAX_POINTS]
        for part in order:
            yy, xx = np.nonzero(parts == part)
            best = int(np.argmin((yy - yy.mean()) ** 2 + (xx - xx.mean()) ** 2))
            x, y = int(xx[best] + cols[0]), int(yy[best] + rows[0])
            points.append(BleedingPoint(int(k), x, y, lesion.subtype, lesion.id))
    return points


def _truth(lesion: Lesion, mask: np.ndarray, volume_ml: float) -> LesionTruth:
    slices = tuple(int(k) for k in np.flatnonzero(mask.any(axis=(1, 2))))
    return LesionTruth(
        lesion.id,
        lesion.subtype,
        lesion.kind,
        slices,
        lesion.mean_hu,
        lesion.z_centre,
        lesion.z_half,
        volume_ml,
        lesion.params,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value
