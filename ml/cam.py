"""Attention maps (Grad-CAM) and the localisation check of paper A (docs/science.md, "Grad-CAM" and
"Localisation").

Three parts, as in pytorch-grad-cam:

* **Hooks.** ``capture_activations`` is a context manager that records the outputs of named blocks during
  one forward pass and always removes its hooks.
* **The CAM maths.** With ``A_{l,k}`` the k-th feature map of block l, ``z^c`` the logit of class c (our
  nets return logits) and ``alpha_{l,k} = (1/S_l) sum_ij dz^c/dA_{l,k}(i,j)`` its spatially averaged
  gradient,

  - eq. 5 (``gradcam``): ``M^c = ReLU( sum_k alpha_{L,k} A_{L,k} )`` on the last block L (``TARGET_LAYERS``);
  - eq. 6 (``feature_maps``): ``M^c_{l,k} = ReLU( alpha_{l,k} A_{l,k} )`` per feature, any block l.

  Both are returned at the block's native resolution, before any resizing or normalisation.
* **Post-processing.** ``upsample`` (bilinear, to the slice), ``normalise`` (by the maximum, to [0, 1]),
  ``segment`` (pixels above 20 % of the maximum, the paper's localisation segmentation), ``head_mask`` and
  ``area_percent`` (segmentation area as % of the head), ``points_in_segmentation`` and
  ``localisation_overlap`` (bleeding points inside the segmentation: the paper's 260/333 = 78.1 %).

Example::

    >>> model = build_model("tiny").eval()
    >>> x = torch.randn(2, 3, 128, 128)
    >>> cam = gradcam(model, x, TARGET_LAYERS["tiny"], class_index=5)
    >>> cam.shape  # 8 x 8: tiny's last block at 128 px
    (2, 8, 8)
    >>> segment(normalise(upsample(cam[0], (512, 512)))).shape
    (512, 512)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from torch import nn

from ml.models import TARGET_LAYERS, get_module

__all__ = [
    "ATLAS_BLOCKS",
    "HEAD_HU",
    "SEGMENT_FRACTION",
    "TARGET_LAYERS",
    "ClassMaps",
    "LocalisationOverlap",
    "OverlapCount",
    "area_percent",
    "capture_activations",
    "class_maps",
    "feature_maps",
    "gradcam",
    "head_mask",
    "localisation_overlap",
    "normalise",
    "points_in_segmentation",
    "segment",
    "upsample",
    "weighted_activations",
]

#: Blocks whose filters make up the atlas (docs/science.md, "Atlas"): the ends of the nets' stages, from fine
#: to coarse, the last being ``TARGET_LAYERS``'s block. VGG16: the ReLU after the last conv of each of the
#: five conv blocks (before its max-pool). Inception-v3: the ends of the 35x35, 17x17 and 8x8 stages.
#: Inception-ResNet-v2: the ends of its Inception-ResNet-A and -B repeats and the final conv.
ATLAS_BLOCKS: dict[str, tuple[str, ...]] = {
    "vgg16": ("features.3", "features.8", "features.15", "features.22", "features.29"),
    "resnet50": ("layer1", "layer2", "layer3", "layer4"),
    "inception_v3": ("Mixed_5d", "Mixed_6e", "Mixed_7c"),
    "inception_resnet_v2": ("repeat", "repeat_1", "conv2d_7b"),
    "lewicki": ("layer1", "layer2", "layer3", "layer4"),
    "resnet18": ("layer1", "layer2", "layer3", "layer4"),
    "tiny": ("features.block1", "features.block2", "features.block3", "features.block4"),
}

#: Localisation check: the segmentation keeps pixels above this fraction of the map's maximum.
SEGMENT_FRACTION = 0.2
#: Head mask: pixels above this many HU (skin and everything denser; air and padding are below).
HEAD_HU = -100.0


# ------------------------------------------------------------------------------------------------ hooks


@contextmanager
def capture_activations(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the output of each named block during the forward passes run inside the ``with``.

    The yielded dict maps each dotted name to the block's last output (the tensor itself, still in the
    autograd graph when gradients are on). The hooks are removed on exit, also on error.

    Raises:
        KeyError: a name that is not a submodule of ``model``.
        RuntimeError: (on the forward pass) a block that runs more than once per pass, or whose output is
            not a tensor: its feature maps ``A_l`` are not defined.
    """
    captured: dict[str, torch.Tensor] = {}
    modules = {name: get_module(model, name) for name in dict.fromkeys(layers)}
    handles = []

    def hook_for(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                raise RuntimeError(f"block {name!r} returns a {type(output).__name__}, not a tensor")
            if name in captured:
                raise RuntimeError(
                    f"block {name!r} ran twice in one forward pass; choose a block that runs once"
                )
            captured[name] = output

        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


# ---------------------------------------------------------------------------------------------- the maths


def weighted_activations(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """The terms ``alpha_{l,k} A_{l,k}`` of eqs. 5 and 6, with ``alpha_{l,k} = (1/S_l) sum_ij dz^c/dA_{l,k}``.

    Args:
        activations: ``(N, K, h, w)`` feature maps ``A_l``.
        gradients: ``(N, K, h, w)`` gradients ``dz^c/dA_l`` of the logit.

    Returns:
        ``(N, K, h, w)``, signed (before any ReLU). Summed over k and passed through a ReLU this is eq. 5;
        each term through a ReLU is eq. 6.
    """
    if activations.ndim != 4 or activations.shape != gradients.shape:
        raise ValueError(
            f"need activations and gradients of one (N, K, h, w) shape, got {tuple(activations.shape)} "
            f"and {tuple(gradients.shape)}"
        )
    alpha = gradients.mean(dim=(2, 3), keepdim=True)
    return alpha * activations


@dataclass(frozen=True, eq=False)
class ClassMaps:
    """Maps of one class from one forward and backward pass (``class_maps``).

    Attributes:
        cam: ``(N, h_L, w_L)`` eq. 5 maps of the target block, native resolution, float32 (None when no
            target block was asked for).
        features: block -> ``(N, K', h_l, w_l)`` eq. 6 maps of the selected filters, float32.
        logits: ``(N, C)`` the net's logits ``z``.
    """

    cam: NDArray[np.float32] | None
    features: dict[str, NDArray[np.float32]]
    logits: NDArray[np.float32]


def _device_of(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a (N >= 1, C, H, W) tensor, got {shape}")


def _weighted_terms(
    model: nn.Module, images: torch.Tensor, class_index: int, layers: list[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One forward and backward pass: the logits and, per block, ``alpha_{l,k} A_{l,k}`` (before the ReLU).

    The model runs in eval mode with gradients on whatever the caller's grad mode; its mode is restored.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            x = images.detach().to(_device_of(model)).clone().requires_grad_(True)
            with capture_activations(model, layers) as captured:
                logits = model(x)
            if logits.ndim != 2 or not 0 <= class_index < logits.shape[1]:
                raise ValueError(
                    f"class_index {class_index} is outside the net's {tuple(logits.shape)} logits"
                )
            missing = [name for name in layers if name not in captured]
            if missing:
                raise RuntimeError(f"blocks {missing} did not run in the forward pass")
            acts = [captured[name] for name in layers]
            grads = torch.autograd.grad(logits[:, class_index].sum(), acts)
        terms = {
            name: weighted_activations(a.detach().float(), g.float())
            for name, a, g in zip(layers, acts, grads, strict=True)
        }
    finally:
        model.train(was_training)
    return logits, terms


def _chosen_filters(t: torch.Tensor, name: str, chosen: Sequence[int] | None) -> torch.Tensor:
    """The terms of the ``chosen`` filters of block ``name`` (all of them for None)."""
    if chosen is None:
        return t
    index = torch.as_tensor(list(chosen), dtype=torch.long)
    if len(index) and (int(index.min()) < 0 or int(index.max()) >= t.shape[1]):
        raise ValueError(f"filter indices of {name!r} must lie in [0, {t.shape[1]}), got {list(chosen)}")
    return t[:, index.to(t.device)]


def class_maps(
    model: nn.Module,
    images: torch.Tensor,
    class_index: int,
    target_layer: str | None = None,
    filters: Mapping[str, Sequence[int] | None] | None = None,
    relu: bool = True,
) -> ClassMaps:
    """Eq. 5 on ``target_layer`` and eq. 6 on the ``filters`` of other blocks, from one forward+backward pass.

    The model runs in eval mode (its train/eval mode is restored afterwards) with gradients on, whatever
    the caller's grad mode; only ``dz^c/dA_l`` is computed (``torch.autograd.grad``), so no parameter
    ``.grad`` is touched. Images are independent in eval mode, so the gradient of ``sum_n z^c_n`` gives
    each image its own maps.

    Args:
        model: a net returning logits ``(N, C)``.
        images: ``(N, 3, S, S)`` network input (``ml.preprocess.prepare_volume``), moved to the model's
            device.
        class_index: the output c whose logit ``z^c`` is differentiated.
        target_layer: block of eq. 5 (``TARGET_LAYERS[arch]``), or None for no eq. 5 map.
        filters: block -> filter indices for eq. 6 (None or missing: all filters of that block).
        relu: False returns the signed terms ``alpha_{l,k} A_{l,k}`` instead of eq. 6 (and eq. 5 before
            its ReLU); their sum over all k of the target block is eq. 5's pre-ReLU map.

    Raises:
        ValueError: bad image shape, class index out of range, or a filter index outside the block.
        KeyError: a block name that is not a submodule.
    """
    _check_images(images)
    filters = dict(filters or {})
    layers = list(dict.fromkeys([*([target_layer] if target_layer else []), *filters]))
    if not layers:
        raise ValueError("class_maps needs a target_layer or at least one block in filters")
    logits, terms = _weighted_terms(model, images, class_index, layers)

    def finish(t: torch.Tensor) -> NDArray[np.float32]:
        return (t.clamp_min(0) if relu else t).cpu().numpy().astype(np.float32, copy=False)

    cam = finish(terms[target_layer].sum(dim=1)) if target_layer else None
    features = {name: finish(_chosen_filters(terms[name], name, chosen)) for name, chosen in filters.items()}
    return ClassMaps(cam, features, logits.detach().float().cpu().numpy())


def gradcam(
    model: nn.Module, images: torch.Tensor, target_layer: str, class_index: int
) -> NDArray[np.float32]:
    """Eq. 5: ``M^c = ReLU( sum_k A_{L,k} * (1/S_L) sum_ij dz^c/dA_{L,k}(i,j) )`` per image.

    Args:
        model: a net returning logits (``ml.models``); run in eval mode, its mode restored afterwards.
        images: ``(N, 3, S, S)`` network input.
        target_layer: dotted name of the block L (``TARGET_LAYERS[arch]``).
        class_index: the output c.

    Returns:
        ``(N, h, w)`` float32 at block L's native resolution, before any resizing or normalisation.
    """
    cam = class_maps(model, images, class_index, target_layer=target_layer).cam
    assert cam is not None
    return cam


def feature_maps(
    model: nn.Module,
    images: torch.Tensor,
    layers: Sequence[str],
    class_index: int,
    filters: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, NDArray[np.float32]]:
    """Eq. 6: ``M^c_{l,k} = ReLU( A_{l,k} * (1/S_l) sum_ij dz^c/dA_{l,k}(i,j) )`` for each block given.

    One forward and one backward pass serve all blocks.

    Args:
        layers: dotted block names (e.g. ``ATLAS_BLOCKS[arch]``).
        filters: block -> the filter indices k to return (e.g. the atlas's); blocks not in it give all.

    Returns:
        block -> ``(N, K', h_l, w_l)`` float32 at the block's native resolution, filters in the given order.
    """
    if not layers:
        raise ValueError("feature_maps needs at least one block")
    chosen = {name: (filters or {}).get(name) for name in layers}
    return class_maps(model, images, class_index, filters=chosen).features


# ---------------------------------------------------------------------------------------- post-processing


def upsample(maps: ArrayLike, shape: tuple[int, int]) -> NDArray[np.float32]:
    """Bilinear resize (``align_corners=False``) of ``(h, w)`` or ``(..., h, w)`` maps to ``shape = (H, W)``.

    Pixel centres are aligned, so a coarse map cell covers the image region it was computed from.
    """
    array = np.asarray(maps, dtype=np.float32)
    if array.ndim < 2:
        raise ValueError(f"maps must be (h, w) or (..., h, w), got {array.shape}")
    target = (int(shape[0]), int(shape[1]))
    if array.shape[-2:] == target:
        return array.copy()
    lead = array.shape[:-2]
    t = torch.from_numpy(np.ascontiguousarray(array.reshape(-1, 1, *array.shape[-2:])))
    out = F.interpolate(t, size=target, mode="bilinear", align_corners=False)
    return out.reshape(*lead, *target).numpy()


def normalise(map_: ArrayLike) -> NDArray[np.float32]:
    """``map / max(map)`` clipped to [0, 1]; a map whose maximum is not positive gives all zeros."""
    array = np.asarray(map_, dtype=np.float32)
    peak = float(array.max()) if array.size else 0.0
    if not peak > 0:
        return np.zeros_like(array)
    return np.asarray(np.clip(array / np.float32(peak), 0.0, 1.0), dtype=np.float32)


def segment(map_: ArrayLike, fraction: float = SEGMENT_FRACTION) -> NDArray[np.bool_]:
    """Localisation segmentation: pixels above ``fraction`` (20 %) of the map's maximum.

    A map whose maximum is not positive (no attention) segments nothing.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    array = np.asarray(map_, dtype=np.float32)
    peak = float(array.max()) if array.size else 0.0
    if not peak > 0:
        return np.zeros(array.shape, dtype=bool)
    return array > np.float32(fraction * peak)


def head_mask(hu: ArrayLike, threshold: float = HEAD_HU) -> NDArray[np.bool_]:
    """The head on one slice: the largest connected region above ``threshold`` HU (-100), holes filled.

    Air, padding and the gaps around the head are below -100 HU; skin, skull and brain are above. The CT
    table or a cable is a smaller region and is dropped; ventricles, sinuses and any enclosed air are inside
    the region's outline and are filled in. A slice without anything above the threshold gives all False.

    Args:
        hu: ``(H, W)`` Hounsfield units.
    """
    from scipy import ndimage

    array = np.asarray(hu)
    if array.ndim != 2:
        raise ValueError(f"head_mask takes one (H, W) slice, got {array.shape}")
    labels, n = ndimage.label(array > threshold)
    if n == 0:
        return np.zeros(array.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.asarray(ndimage.binary_fill_holes(labels == int(sizes.argmax())), dtype=bool)


def area_percent(segmentation: ArrayLike, head: ArrayLike) -> float:
    """Segmentation area inside the head as a percentage of the head area: ``100 |S & H| / |H|``.

    The paper reports 8.9 +/- 2.1 % for its attention segmentations. NaN when the head mask is empty.
    """
    seg = np.asarray(segmentation, dtype=bool)
    mask = np.asarray(head, dtype=bool)
    if seg.shape != mask.shape:
        raise ValueError(f"segmentation {seg.shape} and head mask {mask.shape} differ in shape")
    head_area = int(mask.sum())
    if head_area == 0:
        return float("nan")
    return 100.0 * int((seg & mask).sum()) / head_area


# ------------------------------------------------------------------------------------------ localisation


def points_in_segmentation(mask: ArrayLike, points_xy: ArrayLike) -> NDArray[np.bool_]:
    """Whether each bleeding point lies in the segmentation (docs/science.md, "Localisation").

    Args:
        mask: ``(H, W)`` bool segmentation of the slice.
        points_xy: ``(P, 2)`` points in the slice's pixel coordinates, ``x`` = column, ``y`` = row, pixel
            centres at integers (a float is rounded to the nearest pixel).

    Returns:
        ``(P,)`` bool.

    Raises:
        ValueError: a point outside the image (the points and the mask are not of the same slice).
    """
    seg = np.asarray(mask, dtype=bool)
    if seg.ndim != 2:
        raise ValueError(f"mask must be (H, W), got {seg.shape}")
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    cols = np.rint(pts[:, 0]).astype(np.int64)
    rows = np.rint(pts[:, 1]).astype(np.int64)
    outside = (cols < 0) | (cols >= seg.shape[1]) | (rows < 0) | (rows >= seg.shape[0])
    if outside.any():
        raise ValueError(
            f"points {pts[outside].tolist()} lie outside the {seg.shape[1]} x {seg.shape[0]} (W x H) image"
        )
    return seg[rows, cols]


@dataclass(frozen=True)
class OverlapCount:
    """``inside`` of ``total`` bleeding points inside the segmentation."""

    inside: int
    total: int

    @property
    def percent(self) -> float:
        """``100 inside / total``; NaN without points."""
        return 100.0 * self.inside / self.total if self.total else float("nan")

    def to_dict(self) -> dict[str, Any]:
        percent = self.percent
        return {"inside": self.inside, "total": self.total, "percent": None if np.isnan(percent) else percent}


@dataclass(frozen=True)
class LocalisationOverlap:
    """Bleeding points inside the attention segmentation, overall and by points per slice.

    The paper: 260/333 (78.1 %) overall, 51/56 (91.1 %) on slices with 1-2 points, 209/277 (75.5 %) on
    slices with >= 3.

    Attributes:
        overall: all points.
        few_points: points on slices with 1 or 2 points.
        many_points: points on slices with 3 or more points.
        n_slices: slices with at least one point.
    """

    overall: OverlapCount
    few_points: OverlapCount
    many_points: OverlapCount
    n_slices: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "slices_1_2_points": self.few_points.to_dict(),
            "slices_3plus_points": self.many_points.to_dict(),
            "n_slices": self.n_slices,
        }


def localisation_overlap(inside_per_slice: Sequence[Sequence[bool]]) -> LocalisationOverlap:
    """Sum ``points_in_segmentation`` over slices: overall, slices with 1-2 points, slices with >= 3.

    Args:
        inside_per_slice: per slice, one bool per bleeding point (slices without points count nowhere).
    """
    few = [0, 0]
    many = [0, 0]
    n_slices = 0
    for flags in inside_per_slice:
        values = np.asarray(flags, dtype=bool).ravel()
        if values.size == 0:
            continue
        n_slices += 1
        group = few if values.size <= 2 else many
        group[0] += int(values.sum())
        group[1] += int(values.size)
    return LocalisationOverlap(
        overall=OverlapCount(few[0] + many[0], few[1] + many[1]),
        few_points=OverlapCount(*few),
        many_points=OverlapCount(*many),
        n_slices=n_slices,
    )
