"""Explanations of one CT case: attention maps, their segmentation, and the prediction basis from the atlas.

Per asked slice and label, with one net of the bundle (ResNet-50 when the bundle has it: the paper's net
for maps and atlas, docs/science.md, "Atlas"):

* the eq. 5 Grad-CAM map of the label's logit on the slice's own image (``ml.preprocess.prepare_volume`` with
  the bundle's windowing at the net's input size). The M4 slice interpolation of inference is **not** used
  for maps: a map shows what the net sees on this slice, not on a blend with its neighbours;
* the map upsampled (bilinear) to the slice's ``(H, W)`` and divided by its maximum (``map``, [0, 1]), its
  raw maximum at native resolution, the 20 % segmentation and its area as % of the head;
* with an atlas (``ml.atlas``): the label's atlas entries ranked by eq. 7 (``ml.retrieval``; ``basis``: the
  ``top_k`` lowest distances) and the four questionnaire ``candidates``.

``build_bundle_atlas`` feeds a bundle's training cases to ``ml.atlas.build_atlas``.

Command line (``ml.cli.explain``)::

    python -m ml.explain --model BUNDLE_DIR SERIES_DIR --out DIR [--atlas ATLAS_DIR] [--slices 3,4]
        [--label ANY] [--arch resnet50] [--device cpu] [--top-k 5]

Example::

    >>> explanation = explain_case(load_bundle("var/bundles/lite"), hu, slices=[12], labels=["ANY"])
    >>> item = explanation.get(12, "ANY")
    >>> item.map.shape == hu.shape[1:], round(item.area_percent, 1)
    (True, 8.4)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray

from ml.atlas import PATCH_PIXELS, TOP_FRACTION, TOP_M, Atlas, build_atlas
from ml.cam import TARGET_LAYERS, ClassMaps, area_percent, class_maps, head_mask, normalise, segment, upsample
from ml.crop import Box, crop_volume, head_box, paste_map
from ml.labels import LABELS
from ml.preprocess import prepare_volume
from ml.retrieval import Candidate, RankedEntry, questionnaire_candidates, rank_entries

if TYPE_CHECKING:
    from ml.bundle import Bundle
    from ml.data import CaseData

__all__ = [
    "CaseExplanation",
    "SliceExplanation",
    "build_bundle_atlas",
    "default_arch",
    "explain_case",
]

#: Slices per forward+backward pass of ``explain_case``.
BATCH_SIZE = 8


def _number(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


@dataclass(frozen=True, eq=False)
class SliceExplanation:
    """The explanation of one label on one slice.

    Attributes:
        slice_index, label, class_index: what is explained (``class_index`` in the bundle's label order).
        probability: ``sigmoid(z^c)`` of this net on the slice's own image (no M4 interpolation, no ensemble).
        native_map: ``(h, w)`` eq. 5 map at the target block's resolution, unnormalised.
        raw_max: its maximum (0: no attention at all).
        map: ``(H, W)`` float32 in [0, 1]: ``native_map`` upsampled to the slice and divided by its maximum.
        segmentation: ``(H, W)`` bool, ``map`` above 20 % of its maximum.
        area_percent: segmentation area inside the head, % of the head area (NaN without a head).
        basis: the ``top_k`` atlas entries of lowest eq. 7 distance (empty without an atlas).
        candidates: the four questionnaire picks (empty without an atlas or with fewer than 4 entries).
    """

    slice_index: int
    label: str
    class_index: int
    probability: float
    native_map: NDArray[np.float32]
    raw_max: float
    map: NDArray[np.float32]
    segmentation: NDArray[np.bool_]
    area_percent: float
    basis: tuple[RankedEntry, ...] = ()
    candidates: tuple[Candidate, ...] = ()

    def to_dict(self, atlas: Atlas | None = None) -> dict[str, Any]:
        """JSON-ready summary (no arrays); with ``atlas`` each basis item carries its entry's metadata."""

        def ranked(item: RankedEntry) -> dict[str, Any]:
            out = item.to_dict() | {"distance": _number(item.distance)}
            return out | ({"atlas_entry": atlas.entries[item.entry].to_dict()} if atlas else {})

        return {
            "slice": self.slice_index,
            "label": self.label,
            "probability": _number(self.probability),
            "raw_max": _number(self.raw_max),
            "native_shape": list(self.native_map.shape),
            "area_percent": _number(self.area_percent),
            "segmentation_pixels": int(self.segmentation.sum()),
            "basis": [ranked(b) for b in self.basis],
            "candidates": [ranked(c) for c in self.candidates],
        }


@dataclass(frozen=True, eq=False)
class CaseExplanation:
    """Explanations of the asked slices and labels of one case (``explain_case``).

    Attributes:
        arch, target_layer, input_size, windowing: the net and how its input was made.
        shape: ``(H, W)`` of the slices; ``slices``, ``labels``: what was explained, in order.
        items: ``(slice_index, label)`` -> ``SliceExplanation``.
        atlas: the atlas used for the prediction basis, or None.
        seconds: wall time of the call.
    """

    arch: str
    target_layer: str
    input_size: int
    windowing: str
    shape: tuple[int, int]
    slices: tuple[int, ...]
    labels: tuple[str, ...]
    items: dict[tuple[int, str], SliceExplanation]
    atlas: Atlas | None
    seconds: float

    def get(self, slice_index: int, label: str) -> SliceExplanation:
        try:
            return self.items[slice_index, label]
        except KeyError:
            raise KeyError(f"slice {slice_index} / label {label!r} was not explained") from None

    def __iter__(self) -> Iterator[SliceExplanation]:
        return iter(self.items.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "target_layer": self.target_layer,
            "input_size": self.input_size,
            "windowing": self.windowing,
            "shape": list(self.shape),
            "slices": list(self.slices),
            "labels": list(self.labels),
            "items": [item.to_dict(self.atlas) for item in self],
            "seconds": round(self.seconds, 4),
        }


def default_arch(bundle: Bundle) -> str:
    """``resnet50`` when the bundle has it (the paper's net for maps and atlas), else its first net."""
    return "resnet50" if "resnet50" in bundle.models else bundle.archs[0]


def _weights_sha256(bundle: Bundle, arch: str) -> str | None:
    name = bundle.manifest.get("weights", {}).get(arch)
    return bundle.manifest.get("sha256", {}).get(name) if name else None


def _check_atlas(atlas: Atlas, bundle: Bundle, arch: str) -> None:
    problems = []
    if atlas.arch != arch:
        problems.append(f"it was built for {atlas.arch}, the maps use {arch}")
    if tuple(atlas.label_order) != tuple(bundle.label_order):
        problems.append(f"its labels {list(atlas.label_order)} differ from the bundle's")
    if atlas.input_size != bundle.input_size[arch]:
        problems.append(
            f"its input size {atlas.input_size} differs from the bundle's {bundle.input_size[arch]}"
        )
    built_from = atlas.source.get("weights_sha256")
    if built_from and built_from != _weights_sha256(bundle, arch):
        problems.append("it was built from other weights (sha256 differs)")
    if problems:
        raise ValueError(f"atlas does not fit bundle {bundle.path}: {'; '.join(problems)}; rebuild it")


def _choices(values: Sequence[Any] | None, everything: Sequence[Any], what: str) -> list[Any]:
    if values is None:
        return list(everything)
    chosen = list(dict.fromkeys(values))
    unknown = [v for v in chosen if v not in everything]
    if unknown:
        valid = f"0..{len(everything) - 1}" if what == "slice" else ", ".join(map(str, everything))
        raise ValueError(f"unknown {what}s {unknown}; valid: {valid}")
    return chosen


def explain_case(
    bundle: Bundle,
    hu: NDArray[Any],
    *,
    slices: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    atlas: Atlas | None = None,
    arch: str | None = None,
    device: torch.device | str | None = None,
    top_k: int = 5,
    batch_size: int = BATCH_SIZE,
    head: Box | None = None,
) -> CaseExplanation:
    """Attention maps (eq. 5), segmentation, head-area share and atlas prediction basis (eq. 7) of a case.

    Args:
        bundle: a loaded model bundle (``ml.bundle.load_bundle``).
        hu: ``(Z, H, W)`` Hounsfield units of the case.
        slices: slice indices to explain (default all; the web app passes the positive slices).
        labels: labels to explain (default all of the bundle's).
        atlas: the atlas of ``arch`` for the prediction basis (``ml.atlas.load_atlas``), or None.
        arch: the bundle's net for the maps (default ``default_arch``).
        device: where to run (the net is moved there); default where the net is.
        top_k: basis entries to keep per slice and label.
        batch_size: slices per forward+backward pass.
        head: the case's head box when the caller has it already (``CasePrediction.head``); found here
            when the bundle crops to the head and none is given.

    Why it is long: its ten documented arguments; the work is in ``_check_request`` (the checks) and
    ``_explain_slice`` (one slice's map, segmentation and basis).

    Raises:
        ValueError: bad ``hu`` shape, unknown slice, label or arch, or an atlas of another net.
    """
    started = time.perf_counter()
    hu = np.asarray(hu)
    arch = arch or default_arch(bundle)
    chosen, wanted = _check_request(bundle, hu, slices, labels, atlas, arch, top_k, batch_size)
    model = bundle.models[arch]
    if device is not None:
        model.to(device)
    dev = next(model.parameters()).device
    size, target = int(bundle.input_size[arch]), TARGET_LAYERS[arch]
    shape = (int(hu.shape[1]), int(hu.shape[2]))
    box = (head or head_box(hu)) if bundle.crop_to_head else None
    volume = prepare_volume(crop_volume(hu[chosen], box), bundle.windowing, size, dev) if chosen else None
    heads = {s: head_mask(hu[s]) for s in chosen}
    items: dict[tuple[int, str], SliceExplanation] = {}
    for label in wanted:
        c = bundle.label_order.index(label)
        filters = atlas.filters(label) if atlas is not None else {}
        for start in range(0, len(chosen), batch_size):
            assert volume is not None
            maps = class_maps(model, volume[start : start + batch_size], c, target, filters)
            for j, s in enumerate(chosen[start : start + batch_size]):
                placed = _Placement(box, shape, heads[s])
                items[s, label] = _explain_slice(maps, j, s, label, c, placed, atlas, top_k)
    return CaseExplanation(
        arch=arch,
        target_layer=target,
        input_size=size,
        windowing=bundle.windowing,
        shape=shape,
        slices=tuple(chosen),
        labels=tuple(wanted),
        items=items,
        atlas=atlas,
        seconds=time.perf_counter() - started,
    )


def _check_request(
    bundle: Bundle,
    hu: NDArray[Any],
    slices: Sequence[int] | None,
    labels: Sequence[str] | None,
    atlas: Atlas | None,
    arch: str,
    top_k: int,
    batch_size: int,
) -> tuple[list[int], list[str]]:
    """The slices and labels ``explain_case`` is asked for, once every argument is checked."""
    if hu.ndim != 3 or hu.shape[0] == 0:
        raise ValueError(f"hu must be (Z >= 1, H, W), got {hu.shape}")
    if arch not in bundle.models:
        raise ValueError(f"arch {arch!r} is not in the bundle; it has {', '.join(bundle.archs)}")
    chosen = [int(s) for s in _choices(slices, range(len(hu)), "slice")]
    wanted = [str(x) for x in _choices(labels, bundle.label_order, "label")]
    if atlas is not None:
        _check_atlas(atlas, bundle, arch)
    if top_k < 0 or batch_size < 1:
        raise ValueError(f"need top_k >= 0 and batch_size >= 1, got {top_k} and {batch_size}")
    return chosen, wanted


@dataclass(frozen=True)
class _Placement:
    """Where a slice's map goes back to: the head box it was cropped to, the slice shape, the head mask."""

    box: Box | None
    shape: tuple[int, int]
    head: NDArray[np.bool_]


def _explain_slice(
    maps: ClassMaps,
    j: int,
    slice_index: int,
    label: str,
    c: int,
    placed: _Placement,
    atlas: Atlas | None,
    top_k: int,
) -> SliceExplanation:
    """Item ``j`` of a batch's class maps as the slice's explanation: map on the slice, segment, basis."""
    assert maps.cam is not None
    native = maps.cam[j]
    size = placed.box.shape if placed.box else placed.shape
    unit = normalise(paste_map(upsample(native, size), placed.box, placed.shape))
    seg = segment(unit)
    basis: tuple[RankedEntry, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    if atlas is not None:
        ranking = rank_entries(atlas, label, {b: f[j] for b, f in maps.features.items()}, native)
        basis = tuple(ranking.top(top_k))
        candidates = questionnaire_candidates(ranking) if len(ranking) >= 4 else ()
    return SliceExplanation(
        slice_index=slice_index,
        label=label,
        class_index=c,
        probability=float(1.0 / (1.0 + np.exp(-float(maps.logits[j, c])))),
        native_map=native,
        raw_max=float(native.max()),
        map=unit,
        segmentation=seg,
        area_percent=area_percent(seg, placed.head),
        basis=basis,
        candidates=candidates,
    )


def _atlas_batches(
    bundle: Bundle, cases: Sequence[CaseData], arch: str, batch_size: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, NDArray[np.bool_], list[tuple[str, int]]]]:
    """The training slices as the net sees them at inference, ``batch_size`` slices of one case at a time,
    with their labels in the bundle's order and their ``(case id, slice index)``."""
    size = int(bundle.input_size[arch])
    columns = [LABELS.index(label) for label in bundle.label_order]
    for case in cases:
        volume = case.volume()
        if bundle.crop_to_head:
            volume = crop_volume(volume, head_box(volume))
        for start in range(0, case.n_slices, batch_size):
            stop = min(start + batch_size, case.n_slices)
            images = prepare_volume(np.asarray(volume[start:stop]), bundle.windowing, size, device)
            labels = case.labels[start:stop][:, columns] > 0.5
            yield images, labels, [(case.case_id, k) for k in range(start, stop)]


def build_bundle_atlas(
    bundle: Bundle,
    cases: Sequence[CaseData],
    arch: str | None = None,
    *,
    batch_size: int = 16,
    blocks: Sequence[str] | None = None,
    top_fraction: float = TOP_FRACTION,
    top_m: int = TOP_M,
    patch_pixels: int = PATCH_PIXELS,
    device: torch.device | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Atlas:
    """``ml.atlas.build_atlas`` of one bundle net over the slices of ``cases`` (the training cases).

    Slices are prepared as at inference (bundle windowing, the net's input size) and streamed in batches of
    ``batch_size`` slices of one case; labels are the cases' slice labels in the bundle's label order.
    The atlas records the bundle path and the sha256 of the net's weights, which ``explain_case`` checks.
    """
    arch = arch or default_arch(bundle)
    if arch not in bundle.models:
        raise ValueError(f"arch {arch!r} is not in the bundle; it has {', '.join(bundle.archs)}")
    if not cases:
        raise ValueError("build_bundle_atlas needs at least one training case")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model = bundle.models[arch]
    if device is not None:
        model.to(device)
    dev = next(model.parameters()).device
    source = {
        "bundle": str(bundle.path),
        "arch": arch,
        "weights_sha256": _weights_sha256(bundle, arch),
        "windowing": bundle.windowing,
        "n_cases": len(cases),
    }
    return build_atlas(
        model,
        arch,
        _atlas_batches(bundle, cases, arch, batch_size, dev),
        bundle.label_order,
        blocks,
        top_fraction,
        progress,
        top_m=top_m,
        patch_pixels=patch_pixels,
        source=source,
    )


if __name__ == "__main__":
    from ml.cli.explain import main

    raise SystemExit(main())
