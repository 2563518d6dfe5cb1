"""Slice interpolation of M4 (docs/science.md, "Slice interpolation"): extra training images and multi-image
inference.

A slice ``x_s`` is mixed with a neighbour ``x_t`` (``t = s - 1`` or ``s + 1``) as
``x_{s,t} = b x_s + (1 - b) x_t`` and its label likewise, ``y_{s,t} = b y_s + (1 - b) y_t``.

Volumes are ``(Z, ...)`` stacks (``(Z, H, W)`` HU or ``(Z, C, H, W)`` windowed images), numpy arrays or
torch tensors; integer input is converted to float32 first (mixing 8-bit images gives non-integers).

**Training** (M4): every slice adds two interpolated images, toward ``s - 1`` and toward ``s + 1``, both with
the batch's ``b``. The first and last slice have one neighbour, so they get two interpolations with it, with
two different ``b``. ``betas = (b1, b2)`` is drawn once per batch by the caller (``sample_betas``): ``b1`` is
the paper's per-batch ``b``, ``b2`` is used only for the edge slices' second interpolation.

**Inference**, degree ``n`` (the number of images that predict one slice): the original slice, then for each
``b`` of ``INFERENCE_BETAS[n]`` the image mixed toward the previous slice and the one mixed toward the next.
The paper combines "the probabilities of the generated images weighted by their interpolation ratios"; read
here as: each image's weight is the share ``b`` of the slice itself in it, so the original weighs 1 and each
interpolated image weighs its ``b``, normalised to sum 1 (degree 3: ``[1, .67, .67] / 2.34``). An edge slice
mirrors its one neighbour into the missing side (slice 0 uses slice 1 twice), the same rule as training.

Example::

    >>> vol = np.array([0.0, 10.0, 20.0])[:, None]          # three 1-pixel slices
    >>> images, weights = inference_images(vol, 1, 3)
    >>> images.ravel().round(2).tolist()
    [10.0, 6.7, 13.3]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    import torch

    Stack = TypeVar("Stack", NDArray[np.floating[Any]], torch.Tensor)
    #: A float stack of either kind, where the kind is only known at run time.
    FloatStack: TypeAlias = NDArray[np.floating[Any]] | torch.Tensor
else:
    Stack = TypeVar("Stack")

__all__ = [
    "BETA_RANGE",
    "DEGREE_BY_ARCH",
    "INFERENCE_BETAS",
    "combine",
    "combine_slices",
    "inference_betas",
    "inference_images",
    "inference_weights",
    "interpolate_training",
    "interpolate_training_volume",
    "interpolated_batch",
    "sample_beta",
    "sample_betas",
    "training_pairs",
]

#: ``b`` of the training interpolation is drawn uniformly from this open interval (M4).
BETA_RANGE: tuple[float, float] = (0.5, 1.0)

#: ``b`` per inference degree; each is applied toward both neighbours (M4).
INFERENCE_BETAS: dict[int, tuple[float, ...]] = {
    3: (0.67,),
    5: (0.8, 0.6),
    7: (0.86, 0.72, 0.58),
    9: (0.89, 0.78, 0.67, 0.56),
}

#: Interpolation degree chosen per network in the paper (M4).
DEGREE_BY_ARCH: dict[str, int] = {"vgg16": 5, "resnet50": 3, "inception_v3": 5, "inception_resnet_v2": 3}


def _as_float(volume: torch.Tensor | ArrayLike) -> NDArray[np.floating[Any]] | torch.Tensor:
    """A float array or tensor: a tensor stays a tensor, anything else becomes a numpy array."""
    if isinstance(volume, np.ndarray):
        return volume if np.issubdtype(volume.dtype, np.floating) else volume.astype(np.float32)
    if type(volume).__module__.startswith("torch"):
        tensor = cast("torch.Tensor", volume)
        return tensor if tensor.is_floating_point() else tensor.float()
    return np.asarray(volume, dtype=np.float32)


def _mix(
    volume: FloatStack, rows: Sequence[int], partners: Sequence[int], betas: Sequence[float]
) -> FloatStack:
    """``b_k x_{rows_k} + (1 - b_k) x_{partners_k}`` for every k, vectorised over the first axis.

    The same products and sum with fewer passes over memory: a numpy index list that repeats one slice
    (``interpolate_training_volume`` of one slice) is read through a view and broadcast, other lists are
    gathered once and scaled in place. A tensor is mixed on its own device.
    """
    shape = (len(betas),) + (1,) * (volume.ndim - 1)
    if isinstance(volume, np.ndarray):
        b = np.asarray(betas, dtype=volume.dtype).reshape(shape)
        out = _scaled(volume, rows, b)
        out += _scaled(volume, partners, 1 - b)
        return out
    import torch

    bt = torch.as_tensor(betas, dtype=volume.dtype, device=volume.device).reshape(shape)
    rows_i = torch.as_tensor(rows, dtype=torch.long, device=volume.device)
    partners_i = torch.as_tensor(partners, dtype=torch.long, device=volume.device)
    return volume[rows_i].mul_(bt).add_(volume[partners_i].mul_(1 - bt))


def _scaled(volume: NDArray[Any], rows: Sequence[int], b: NDArray[Any]) -> NDArray[Any]:
    """``b * volume[rows]`` as a new array, without a gathered copy when ``rows`` repeats one index."""
    if len(rows) and all(r == rows[0] for r in rows):
        return cast(NDArray[Any], np.multiply(volume[rows[0] : rows[0] + 1], b))
    gathered = volume[np.asarray(rows, dtype=np.intp)]
    return cast(NDArray[Any], np.multiply(gathered, b, out=gathered))


def sample_beta(rng: np.random.Generator, low: float = BETA_RANGE[0], high: float = BETA_RANGE[1]) -> float:
    """One ``b`` uniform on the open interval ``(low, high)`` (M4: ``b ~ U(0.5, 1.0)``, drawn per batch)."""
    while True:
        b = float(rng.uniform(low, high))
        if b != low:
            return b


def sample_betas(rng: np.random.Generator) -> tuple[float, float]:
    """The per-batch pair ``(b1, b2)`` for ``interpolate_training``: two different draws of ``sample_beta``.

    Draw it once per mini-batch (M4). ``b1`` serves every slice; ``b2`` only the edge slices.
    """
    b1 = sample_beta(rng)
    b2 = sample_beta(rng)
    while b2 == b1:
        b2 = sample_beta(rng)
    return b1, b2


def _slice_pairs(s: int, n_slices: int) -> list[tuple[int, int, int]]:
    if not 0 <= s < n_slices:
        raise IndexError(f"slice {s} outside a volume of {n_slices} slices")
    if n_slices == 1:
        return []
    if s == 0:
        return [(0, 1, 0), (0, 1, 1)]
    if s == n_slices - 1:
        return [(s, s - 1, 0), (s, s - 1, 1)]
    return [(s, s - 1, 0), (s, s + 1, 0)]


def training_pairs(n_slices: int) -> list[tuple[int, int, int]]:
    """Every training interpolation of a volume as ``(s, neighbour, beta_index)`` (M4 with the edge rule).

    Inner slices: ``(s, s-1, 0)`` and ``(s, s+1, 0)``, both with ``b1``. First and last slice: two with the
    one neighbour, ``beta_index`` 0 and 1 (``b1`` and ``b2``). A one-slice volume has none. Ordered by ``s``.
    """
    return [pair for s in range(n_slices) for pair in _slice_pairs(s, n_slices)]


def _check_training(volume: Any, labels: Any, betas: tuple[float, float]) -> None:
    if len(volume) != len(labels):
        raise ValueError(f"{len(volume)} slices but {len(labels)} label rows")
    if len(betas) != 2 or not all(0.0 <= b <= 1.0 for b in betas):
        raise ValueError(f"betas must be two values in [0, 1], got {betas}")
    if len(volume) > 1 and betas[0] == betas[1]:
        raise ValueError(f"the edge rule needs two different b, got {betas}")


# The overloads say what the implementation does: a tensor gives tensors, numpy or array-like input numpy
# arrays, for the images and the labels each.
@overload
def interpolate_training(
    volume: Stack, labels: Stack, s: int, betas: tuple[float, float]
) -> list[tuple[Stack, Stack]]: ...
@overload
def interpolate_training(
    volume: torch.Tensor, labels: ArrayLike, s: int, betas: tuple[float, float]
) -> list[tuple[torch.Tensor, NDArray[np.floating[Any]]]]: ...
@overload
def interpolate_training(
    volume: ArrayLike, labels: torch.Tensor, s: int, betas: tuple[float, float]
) -> list[tuple[NDArray[np.floating[Any]], torch.Tensor]]: ...
@overload
def interpolate_training(
    volume: ArrayLike, labels: ArrayLike, s: int, betas: tuple[float, float]
) -> list[tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]]: ...
def interpolate_training(
    volume: torch.Tensor | ArrayLike, labels: torch.Tensor | ArrayLike, s: int, betas: tuple[float, float]
) -> Sequence[tuple[FloatStack, FloatStack]]:  # a list; the overloads give its element types
    """The two interpolated training (image, label) pairs of slice ``s`` (M4, with the edge rule).

    Args:
        volume: ``(Z, ...)`` images of one case, float (HU or windowed).
        labels: ``(Z, C)`` labels of the same slices.
        s: slice index.
        betas: ``(b1, b2)`` of this batch (``sample_betas``), different from each other.

    Returns:
        ``[(x_{s,s-1}, y_{s,s-1}), (x_{s,s+1}, y_{s,s+1})]`` for an inner slice; for slice 0
        ``[(b1 x_0 + (1-b1) x_1, ...), (b2 x_0 + (1-b2) x_1, ...)]`` and likewise for the last; ``[]`` for a
        one-slice volume.
    """
    images, targets = interpolate_training_volume(volume, labels, betas, slices=[s])
    return [(images[k], targets[k]) for k in range(len(images))]


@overload
def interpolate_training_volume(
    volume: Stack, labels: Stack, betas: tuple[float, float], slices: Sequence[int] | None = None
) -> tuple[Stack, Stack]: ...
@overload
def interpolate_training_volume(
    volume: torch.Tensor, labels: ArrayLike, betas: tuple[float, float], slices: Sequence[int] | None = None
) -> tuple[torch.Tensor, NDArray[np.floating[Any]]]: ...
@overload
def interpolate_training_volume(
    volume: ArrayLike, labels: torch.Tensor, betas: tuple[float, float], slices: Sequence[int] | None = None
) -> tuple[NDArray[np.floating[Any]], torch.Tensor]: ...
@overload
def interpolate_training_volume(
    volume: ArrayLike, labels: ArrayLike, betas: tuple[float, float], slices: Sequence[int] | None = None
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]: ...
def interpolate_training_volume(
    volume: torch.Tensor | ArrayLike,
    labels: torch.Tensor | ArrayLike,
    betas: tuple[float, float],
    slices: Sequence[int] | None = None,
) -> tuple[FloatStack, FloatStack]:
    """All interpolated training images and labels of a volume (or of ``slices``), vectorised (M4).

    Returns:
        ``(images (K, ...), labels (K, C))`` in the order of ``training_pairs`` restricted to ``slices``.
    """
    vol = _as_float(volume)
    lab = _as_float(labels)
    _check_training(vol, lab, betas)
    n = len(vol)
    chosen = range(n) if slices is None else slices
    pairs = [pair for s in chosen for pair in _slice_pairs(s, n)]
    rows = [p[0] for p in pairs]
    partners = [p[1] for p in pairs]
    bs = [betas[p[2]] for p in pairs]
    return _mix(vol, rows, partners, bs), _mix(lab, rows, partners, bs)


def inference_betas(degree: int) -> tuple[float, ...]:
    """The ``b`` of an inference degree (M4); degree 1 means no interpolation.

    Raises:
        ValueError: a degree other than 1, 3, 5, 7, 9.
    """
    if degree == 1:
        return ()
    try:
        return INFERENCE_BETAS[degree]
    except KeyError:
        raise ValueError(
            f"interpolation degree must be 1 or one of {sorted(INFERENCE_BETAS)}, got {degree}"
        ) from None


def inference_weights(degree: int) -> NDArray[np.float64]:
    """Weights of the ``degree`` images of one slice: ``[1, b1, b1, b2, b2, ...] / sum`` (M4, module doc)."""
    raw = [1.0] + [b for b in inference_betas(degree) for _ in range(2)]
    w = np.asarray(raw, dtype=np.float64)
    return cast(NDArray[np.float64], w / w.sum())


def _neighbours(s: int, n_slices: int) -> tuple[int, int]:
    """``(previous, next)`` of slice ``s``, mirroring the one neighbour at an edge."""
    previous = s - 1 if s > 0 else min(s + 1, n_slices - 1)
    following = s + 1 if s < n_slices - 1 else max(s - 1, 0)
    return previous, following


@overload
def interpolated_batch(
    volume: torch.Tensor, degree: int, slices: Sequence[int] | None = None
) -> tuple[torch.Tensor, NDArray[np.float64]]: ...
@overload
def interpolated_batch(
    volume: ArrayLike, degree: int, slices: Sequence[int] | None = None
) -> tuple[NDArray[np.floating[Any]], NDArray[np.float64]]: ...
def interpolated_batch(
    volume: torch.Tensor | ArrayLike, degree: int, slices: Sequence[int] | None = None
) -> tuple[FloatStack, NDArray[np.float64]]:
    """The inference images of every slice of a case (or of ``slices``) as one batch (M4).

    Args:
        volume: ``(Z, H, W)`` or ``(Z, C, H, W)`` float images of one case.
        degree: images per slice, 1, 3, 5, 7 or 9 (``DEGREE_BY_ARCH``).
        slices: slice indices to build (default all), e.g. to split a large case into chunks.

    Returns:
        ``images (len(slices) * degree, ...)``: rows ``k*degree .. k*degree + degree - 1`` belong to the k-th
        slice, ordered as ``inference_images``; ``weights (len(slices), degree)`` for ``combine_slices``.
    """
    vol = _as_float(volume)
    n = len(vol)
    chosen = list(range(n)) if slices is None else list(slices)
    for s in chosen:
        if not 0 <= s < n:
            raise IndexError(f"slice {s} outside a volume of {n} slices")
    betas = inference_betas(degree)
    rows: list[int] = []
    partners: list[int] = []
    bs: list[float] = []
    for s in chosen:
        previous, following = _neighbours(s, n)
        rows.append(s)
        partners.append(s)
        bs.append(1.0)
        for b in betas:
            rows += [s, s]
            partners += [previous, following]
            bs += [b, b]
    weights = np.tile(inference_weights(degree), (len(chosen), 1))
    return _mix(vol, rows, partners, bs), weights


@overload
def inference_images(
    volume: torch.Tensor, s: int, degree: int
) -> tuple[torch.Tensor, NDArray[np.float64]]: ...
@overload
def inference_images(
    volume: ArrayLike, s: int, degree: int
) -> tuple[NDArray[np.floating[Any]], NDArray[np.float64]]: ...
def inference_images(
    volume: torch.Tensor | ArrayLike, s: int, degree: int
) -> tuple[FloatStack, NDArray[np.float64]]:
    """The ``degree`` images that predict slice ``s``, and their weights (M4).

    Order: ``x_s``, then for each ``b`` of ``INFERENCE_BETAS[degree]``: ``b x_s + (1-b) x_{s-1}`` and
    ``b x_s + (1-b) x_{s+1}`` (the one neighbour mirrored at an edge). Weights ``[1, b, b, ...] / sum``.
    """
    images, weights = interpolated_batch(volume, degree, slices=[s])
    return images, weights[0]


def combine(probabilities: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    """A slice's probabilities from those of its ``n`` images: ``sum_k w_k p_k`` (M4).

    Args:
        probabilities: ``(n, C)`` sigmoid outputs for the images of ``inference_images``.
        weights: ``(n,)`` their weights (summing to 1).

    Returns:
        ``(C,)`` float64.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if p.ndim != 2 or w.shape != (p.shape[0],):
        raise ValueError(f"need probabilities (n, C) and weights (n,), got {p.shape} and {w.shape}")
    return w @ p


def combine_slices(probabilities: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    """``combine`` for a whole ``interpolated_batch``: ``(Z * n, C)`` and ``(Z, n)`` -> ``(Z, C)`` (M4)."""
    w = np.asarray(weights, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if w.ndim != 2 or p.ndim != 2 or p.shape[0] != w.size:
        raise ValueError(f"need probabilities (Z*n, C) and weights (Z, n), got {p.shape} and {w.shape}")
    return cast(
        NDArray[np.float64], np.einsum("zn,znc->zc", w, p.reshape(w.shape[0], w.shape[1], p.shape[1]))
    )
