"""Case inference: the M4 ensemble of paper A on one CT series, batched.

See docs/science.md, "Slice interpolation" and "Networks and ensemble".

Per network: the case is preprocessed once at the net's input size (nets sharing a size share it), every
slice's ``n`` interpolation images are built with ``ml.interpolation.interpolated_batch`` at the net's degree
(M4, "Inference"), forwarded in batches of whole slices under ``torch.inference_mode`` (channels_last; AMP
on CUDA), passed through the element-wise sigmoid and combined per slice with their interpolation weights.
The nets' slice probabilities are then averaged, the paper's unweighted ensemble ("Ensemble"; weighted
average and majority vote selectable for comparison), and the case probability of a label is its maximum
over the slices ("Task": a subtype is present if predicted on any slice). ``predict_bundle`` adds the
decision at the bundle's operating points (``p >= t``, as ``ml.stats``).

Command line (``ml.cli.infer``)::

    python -m ml.infer --model BUNDLE_DIR SERIES_DIR [--device cpu|cuda] [--json]

Example::

    >>> hu, info = read_series("var/phantom/case0001/series")
    >>> result = predict_bundle(load_bundle("var/bundles/lite"), hu)
    >>> result.slices.shape, result.case.shape, result.positive["ANY"]
    ((36, 6), (6,), True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from ml.crop import Box, crop_volume, head_box
from ml.ensemble import average, case_probabilities, vote_fraction, weighted_average
from ml.interpolation import combine_slices, interpolated_batch
from ml.preprocess import prepare_volume
from ml.series import SeriesError, SeriesInfo, read_series

if TYPE_CHECKING:
    from ml.bundle import Bundle

__all__ = [
    "CPU_BATCH_SIZE",
    "CUDA_BATCH_SIZE",
    "BundlePrediction",
    "CasePrediction",
    "SeriesError",
    "SeriesInfo",
    "decide",
    "predict_bundle",
    "predict_case",
    "read_series",
]

EnsembleRule = Literal["average", "weighted", "vote"]

#: Default images per forward pass. A CPU is fastest with batches whose activations stay in its caches: on
#: 2 cores, tiny (128 px) and resnet18 (224 px) ran 1.5-2x slower per image at 45-63 images than at 3-21.
CUDA_BATCH_SIZE = 64
CPU_BATCH_SIZE = 16
#: Slices per call of ``prepare_volume`` (see ``_prepare``).
PREPARE_SLICES = 2


@dataclass(frozen=True)
class CasePrediction:
    """Probabilities of one case.

    Attributes:
        per_net: arch -> ``(Z, C)`` slice probabilities of that net (M4-combined).
        slices: ``(Z, C)`` the ensemble of the nets (unweighted average unless asked otherwise).
        case: ``(C,)`` maximum of ``slices`` over the case's slices.
        n_images: arch -> number of images forwarded (``Z * degree``).
        timings: seconds: ``preprocess``, ``forward:<arch>`` per net, ``total``.
        head: the head box the case was cropped to (``crop_to_head``), else None; pass it on to
            ``ml.explain.explain_case`` so that the maps are made on the same crop without finding it again.
    """

    per_net: dict[str, NDArray[np.float64]]
    slices: NDArray[np.float64]
    case: NDArray[np.float64]
    n_images: dict[str, int]
    timings: dict[str, float]
    head: Box | None


@dataclass(frozen=True)
class BundlePrediction(CasePrediction):
    """A ``CasePrediction`` with the bundle's labels, operating points and case-level decisions.

    ``positive[label]`` is None where the bundle has no threshold for the label: no decision is made.
    """

    label_order: tuple[str, ...] = ()
    thresholds: dict[str, float | None] = field(default_factory=dict)
    positive: dict[str, bool | None] = field(default_factory=dict)


def _device(device: torch.device | str | None, models: Mapping[str, nn.Module]) -> torch.device:
    if device is not None:
        return torch.device(device)
    for model in models.values():
        for tensor in model.parameters():
            return tensor.device
    return torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _prepare(hu: NDArray[Any], windowing: str, size: int, device: torch.device) -> torch.Tensor:
    """``prepare_volume`` of the whole case, run a few slices at a time.

    The result is the same; the float copies of a few 512 x 512 slices stay in the CPU caches, which made
    it about 2x faster than one call on the whole case (36 slices, 2 cores).
    """
    out = torch.empty((len(hu), 3, size, size), device=device)
    for start in range(0, len(hu), PREPARE_SLICES):
        out[start : start + PREPARE_SLICES] = prepare_volume(
            hu[start : start + PREPARE_SLICES], windowing, size, device
        )
    return out


def _net_probabilities(
    model: nn.Module, volume: torch.Tensor, degree: int, batch_size: int, device: torch.device
) -> NDArray[np.float64]:
    """``(Z, C)`` M4 probabilities of one net: all interpolation images, batched, combined per slice."""
    n_slices = len(volume)
    per_batch = max(1, batch_size // degree)  # whole slices per forward, so memory stays bounded
    cuda = device.type == "cuda"
    outputs: list[torch.Tensor] = []
    weights: list[NDArray[np.float64]] = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
        for start in range(0, n_slices, per_batch):
            images, w = interpolated_batch(
                volume, degree, slices=range(start, min(start + per_batch, n_slices))
            )
            # NHWC spares oneDNN/cuDNN their layout reorders: about 2x on a 2-core CPU for the tiny net.
            images = images.contiguous(memory_format=torch.channels_last)
            outputs.append(torch.sigmoid(model(images).float()))
            weights.append(w)
    probs = torch.cat(outputs).cpu().numpy()  # one device sync per net
    return combine_slices(probs, np.concatenate(weights))


def _ensemble(
    per_net: Mapping[str, NDArray[np.float64]],
    rule: EnsembleRule,
    weights: Mapping[str, ArrayLike] | None,
    vote_thresholds: float | ArrayLike | Mapping[str, ArrayLike],
) -> NDArray[np.float64]:
    probs = list(per_net.values())
    if rule == "average":
        return average(probs)
    if rule == "weighted":
        if weights is None or set(weights) != set(per_net):
            raise ValueError(f"ensemble 'weighted' needs ensemble_weights for exactly {sorted(per_net)}")
        return weighted_average(probs, np.stack([np.asarray(weights[a], np.float64) for a in per_net]))
    if rule == "vote":
        t = vote_thresholds
        if isinstance(t, Mapping):
            t = np.stack([np.asarray(t[a], np.float64) for a in per_net])
        return vote_fraction(probs, t)
    raise ValueError(f"unknown ensemble {rule!r}; valid: average, weighted, vote")


def _forward(
    model: nn.Module, volume: torch.Tensor, degree: int, batch_size: int, device: torch.device
) -> NDArray[np.float64]:
    """One net's M4 slice probabilities, in eval mode and channels_last on ``device`` (its mode restored)."""
    was_training = model.training
    model.eval().to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]  # the stubs lack Module.to(device, memory_format=)
    try:
        return _net_probabilities(model, volume, degree, batch_size, device)
    finally:
        model.train(was_training)


def predict_case(
    models: Mapping[str, nn.Module],
    hu: NDArray[Any],
    *,
    input_size: Mapping[str, int],
    degree: Mapping[str, int],
    windowing: str,
    device: torch.device | str | None = None,
    batch_size: int | None = None,
    ensemble: EnsembleRule = "average",
    ensemble_weights: Mapping[str, ArrayLike] | None = None,
    vote_thresholds: float | ArrayLike | Mapping[str, ArrayLike] = 0.5,
    crop_to_head: bool = False,
) -> CasePrediction:
    """Slice and case probabilities of one case by an ensemble of nets (M4 interpolation and the ensemble).

    Args:
        models: arch -> net returning logits. Each is put in eval mode for the call (its mode is restored)
            and moved to ``device`` in the channels_last memory format (the caller's module is changed).
        hu: ``(Z, H, W)`` Hounsfield units of the case, slices in order along the head-foot axis.
        input_size: arch -> input side in pixels (``ml.models.INPUT_SIZE`` or the bundle's).
        degree: arch -> M4 interpolation degree, 1, 3, 5, 7 or 9 (``DEGREE_BY_ARCH`` or the bundle's).
        windowing: preset of ``ml.windowing`` (``"paper"`` for M3).
        device: where to run; default the device of the first net's parameters.
        batch_size: images per forward pass, rounded down to whole slices (at least one slice); default
            ``CUDA_BATCH_SIZE``, or ``CPU_BATCH_SIZE`` on a CPU.
        ensemble: ``"average"`` (the paper's choice), ``"weighted"`` (``ensemble_weights``: arch -> weight
            or per-class weights) or ``"vote"`` (fraction of nets with ``p >= vote_thresholds``: a scalar,
            ``(C,)``, or arch -> ``(C,)``; >= 0.5 is the majority).
        crop_to_head: cut the case to its head box (``ml.crop.head_box``) first, as the nets were trained.

    Returns:
        A ``CasePrediction``; ``slices`` and ``case`` follow the nets' output (label) order.

    Why it is long: its eleven documented arguments; each net's pass is ``_forward``.
    """
    if not models:
        raise ValueError("predict_case needs at least one model")
    hu = np.asarray(hu)
    if hu.ndim != 3 or hu.shape[0] == 0:
        raise ValueError(f"hu must be (Z >= 1, H, W), got {hu.shape}")
    for name, table in (("input_size", input_size), ("degree", degree)):
        missing = [arch for arch in models if arch not in table]
        if missing:
            raise ValueError(f"{name} has no entry for {', '.join(missing)}")
    dev = _device(device, models)
    if batch_size is None:
        batch_size = CUDA_BATCH_SIZE if dev.type == "cuda" else CPU_BATCH_SIZE
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    started = time.perf_counter()
    head = head_box(hu) if crop_to_head else None
    net_hu = crop_volume(hu, head) if head is not None else hu
    volumes = {size: _prepare(net_hu, windowing, size, dev) for size in {int(input_size[a]) for a in models}}
    _sync(dev)
    timings = {"preprocess": time.perf_counter() - started}
    per_net: dict[str, NDArray[np.float64]] = {}
    n_images: dict[str, int] = {}
    for arch, model in models.items():
        t0 = time.perf_counter()
        per_net[arch] = _forward(model, volumes[int(input_size[arch])], int(degree[arch]), batch_size, dev)
        n_images[arch] = len(hu) * int(degree[arch])
        timings[f"forward:{arch}"] = time.perf_counter() - t0
    slices = _ensemble(per_net, ensemble, ensemble_weights, vote_thresholds)
    timings["total"] = time.perf_counter() - started
    return CasePrediction(per_net, slices, case_probabilities(slices), n_images, timings, head)


def decide(
    case: ArrayLike, label_order: Sequence[str], thresholds: Mapping[str, float | None]
) -> dict[str, bool | None]:
    """Case-level decision per label, ``p >= t``; None (no decision) where the threshold is None or NaN."""
    p = np.asarray(case, dtype=np.float64)
    out: dict[str, bool | None] = {}
    for i, label in enumerate(label_order):
        t = thresholds.get(label)
        out[label] = None if t is None or math.isnan(t) else bool(p[i] >= t)
    return out


def predict_bundle(
    bundle: Bundle,
    hu: NDArray[Any],
    *,
    device: torch.device | str | None = None,
    batch_size: int | None = None,
) -> BundlePrediction:
    """``predict_case`` with a bundle's nets, sizes, degrees and windowing, and its operating points.

    The decision is made at case level (docs/science.md, "Operating points"); a label whose bundle
    threshold is null gets ``positive[label] = None``: no decision for it.
    """
    pred = predict_case(
        bundle.models,
        hu,
        input_size=bundle.input_size,
        degree=bundle.degree,
        windowing=bundle.windowing,
        device=device,
        batch_size=batch_size,
        crop_to_head=bundle.crop_to_head,
    )
    thresholds = bundle.thresholds
    return BundlePrediction(
        **{f.name: getattr(pred, f.name) for f in fields(CasePrediction)},
        label_order=bundle.label_order,
        thresholds=thresholds,
        positive=decide(pred.case, bundle.label_order, thresholds),
    )


if __name__ == "__main__":
    from ml.cli.infer import main

    raise SystemExit(main())
