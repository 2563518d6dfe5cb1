"""Training input built on the training device: the DataLoader workers send HU, the device does the rest.

The recipe option ``device_preprocess`` (``ml.recipes.Recipe``; on by default when training on CUDA). Today's
path (``ml.slices.SliceDataset.__getitem__``) windows, mixes, resizes, normalises and augments every image in
a DataLoader worker: a few milliseconds per image on one CPU core, so a GPU that trains on 3,000 images/s
needs a dozen workers or more (``bench/data_pipeline.py``). With the option on, a worker only reads
(``SliceDataset.raw_item``):

* the item's HU slices as stored (int16), cut to the head box as today, at their native resolution: slice
  ``s``, and for an interpolated item (M4) its neighbour ``t``; for the noise augmentation's denoised draw,
  the scanner's denoised slices (or a flag: the 3 x 3 median is then taken on the device);
* its small random draws, from the same seeded streams as today: the mix weights ``(b, 1 - b)`` as float32,
  and the augmentation's ``(2, 3)`` resampling matrix (``ml.augment.geometric_matrix`` of the
  ``AugmentParams`` drawn from the key's seed, with the translation in the input's pixels);
* its label row (interpolated items: the mixed label, as today).

``collate_raw`` stacks a batch: the items' slices ``(B, H, W)`` and the interpolated items' neighbours
``(M, H, W)``, zero-padded to the batch's largest ``H x W`` (cropped cases differ in size; uncropped
512 x 512 CT needs no padding); in a worker they are stacked straight into shared memory. On the device
``DeviceTransform`` does, for the whole batch: 3 x 3 median where flagged (``median3x3_torch``) -> window
(``ml.preprocess.window_channels_torch``) -> mix ``b x_s + (1 - b) x_t`` -> resize (``ml.preprocess.resize``,
once per distinct slice size in the batch, on each item's own unpadded slice) -> ImageNet normalisation ->
one batched ``grid_sample`` for the augmented images (``ml.augment.affine_batch``).

**Equivalence.** These are the CPU path's operations on the same values, in its order and with its float32
arithmetic (no operation is reordered: the mix stays before the resize although both are linear), so on a
CPU the two paths give the same batch to the last bit; ``tests/ml/test_device_pipeline.py`` checks every
step M1-M4, with and without the head crop and augmentation, with a bound of 1e-5. On CUDA the windowing,
mix, median and normalisation are the same IEEE float32 operations, but the resize and grid-sample kernels
are CUDA's own (another summation order, fused multiply-adds), so the images may differ from the CPU's in the
last bits of those steps; the same test allows 1e-4 on the normalised values there (about 2e-5 of their
range of ~4.6), which a GPU run has yet to confirm.

Example::

    >>> loader = make_raw_loader(data, sampler, num_workers=4, pin_memory=True)    # ml.slices
    >>> transform = DeviceTransform(data.windowing, data.size)
    >>> for raw in loader:
    ...     batch = raw.to("cuda")
    ...     images, labels = transform(batch), batch.labels                          # (B, 3, S, S) float32
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import default_collate

from ml.augment import affine_batch, air_value
from ml.preprocess import normalize, resize, window_channels_torch

__all__ = ["DeviceTransform", "RawBatch", "RawItem", "collate_raw", "median3x3_torch"]


@dataclass(frozen=True)
class RawItem:
    """What a worker reads for one training image (``ml.slices.SliceDataset.raw_item``).

    Attributes:
        hu: ``(1, h, w)`` HU of the item's slice, or ``(2, h, w)``: the slice, then the neighbour it mixes
            toward (M4); the denoised variant when the augmentation drew it and the case has one.
        weights: float32 ``(b, 1 - b)`` of the mix; ``(1, 0)`` for an original.
        median: the augmentation drew the denoised image and the case has no scanner series: take the
            3 x 3 median of the HU (``ml.augment.denoise``) on the device.
        theta: float32 ``(2, 3)`` resampling matrix of the augmentation; None: the image is not moved.
        label: float32 ``(n_outputs,)``.
    """

    hu: NDArray[np.generic]
    weights: tuple[float, float]
    median: bool
    theta: NDArray[np.float32] | None
    label: NDArray[np.float32]


@dataclass(frozen=True)
class RawBatch:
    """A stacked batch of ``RawItem``; the tensors travel to the device, the index lists stay on the host.

    Attributes:
        hu: ``(B, H, W)`` HU of each item's slice, zero-padded to the batch's largest slice.
        partners: ``(M, H, W)`` HU of the neighbours of the ``mixed`` items, in that order.
        weights: ``(B, 2)`` float32 mix weights.
        thetas: ``(B, 2, 3)`` float32 resampling matrices (the identity for images not moved).
        labels: ``(B, n_outputs)`` float32.
        shapes: each item's own ``(h, w)``.
        mixed: items with a neighbour to mix (interpolated images), ascending.
        median: items whose HU (and neighbour's) get the 3 x 3 median.
        moving: items the augmentation resamples.
    """

    hu: torch.Tensor
    partners: torch.Tensor
    weights: torch.Tensor
    thetas: torch.Tensor
    labels: torch.Tensor
    shapes: tuple[tuple[int, int], ...]
    mixed: tuple[int, ...]
    median: tuple[int, ...]
    moving: tuple[int, ...]

    _TENSORS: ClassVar[tuple[str, ...]] = ("hu", "partners", "weights", "thetas", "labels")

    def __len__(self) -> int:
        return len(self.shapes)

    def to(self, device: torch.device | str, non_blocking: bool = True) -> RawBatch:
        """The batch with its tensors on ``device`` (asynchronous from pinned memory)."""
        moved = {name: getattr(self, name).to(device, non_blocking=non_blocking) for name in self._TENSORS}
        return replace(self, **moved)

    def pin_memory(self) -> RawBatch:
        """Page-locked copies of the tensors (called by a DataLoader with ``pin_memory=True``)."""
        return replace(self, **{name: getattr(self, name).pin_memory() for name in self._TENSORS})

    def subset(self, start: int, stop: int) -> RawBatch:
        """Items ``start .. stop - 1`` as a batch (views of the tensors)."""

        def rebase(rows: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(k - start for k in rows if start <= k < stop)

        first = sum(k < start for k in self.mixed)
        return RawBatch(
            hu=self.hu[start:stop],
            partners=self.partners[first : first + len(rebase(self.mixed))],
            weights=self.weights[start:stop],
            thetas=self.thetas[start:stop],
            labels=self.labels[start:stop],
            shapes=self.shapes[start:stop],
            mixed=rebase(self.mixed),
            median=rebase(self.median),
            moving=rebase(self.moving),
        )


#: Images per pass when the "device" is a CPU (tests, benchmarks).
CPU_CHUNK = 8

_IDENTITY = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)


def _hu_dtype(items: Sequence[RawItem]) -> np.dtype[np.generic]:
    """The items' common HU dtype, unsigned types widened to int32 (torch has few kernels for them)."""
    dtype: np.dtype[np.generic] = np.result_type(*(item.hu.dtype for item in items))
    if dtype.kind == "u" and dtype.itemsize > 1:
        return np.dtype(np.int32)
    return dtype


def _stack(
    slices: Sequence[NDArray[np.generic]], shape: tuple[int, int], dtype: np.dtype[np.generic]
) -> torch.Tensor:
    """``(N, *shape)``: the slices zero-padded to ``shape``; in a DataLoader worker, stacked straight into
    shared memory by ``default_collate`` (one copy on the way to the main process, not two)."""
    if not slices:
        return torch.zeros((0, *shape), dtype=torch.from_numpy(np.zeros(0, dtype)).dtype)
    tensors = []
    for a in slices:
        if a.shape != shape or a.dtype != dtype or not a.flags.writeable:
            padded = np.zeros(shape, dtype=dtype)
            padded[: a.shape[0], : a.shape[1]] = a
            a = padded
        tensors.append(torch.from_numpy(a))
    return cast(torch.Tensor, default_collate(tensors))


def collate_raw(items: Sequence[RawItem]) -> RawBatch:
    """Stack ``RawItem``s (the ``collate_fn`` of ``ml.slices.make_raw_loader``), padding the HU with zeros."""
    if not items:
        raise ValueError("an empty batch")
    shapes = tuple((int(item.hu.shape[1]), int(item.hu.shape[2])) for item in items)
    shape = (max(s[0] for s in shapes), max(s[1] for s in shapes))
    dtype = _hu_dtype(items)
    mixed = tuple(k for k, item in enumerate(items) if len(item.hu) > 1)
    thetas = np.stack([_IDENTITY if item.theta is None else item.theta for item in items])
    return RawBatch(
        hu=_stack([item.hu[0] for item in items], shape, dtype),
        partners=_stack([items[k].hu[1] for k in mixed], shape, dtype),
        weights=torch.tensor([item.weights for item in items], dtype=torch.float32),
        thetas=torch.from_numpy(thetas.astype(np.float32, copy=False)),
        labels=torch.from_numpy(np.stack([item.label for item in items]).astype(np.float32, copy=False)),
        shapes=shapes,
        mixed=mixed,
        median=tuple(k for k, item in enumerate(items) if item.median),
        moving=tuple(k for k, item in enumerate(items) if item.theta is not None),
    )


def median3x3_torch(hu: torch.Tensor) -> torch.Tensor:
    """``ml.phantom.case.median3x3`` on a ``(..., H, W)`` tensor, on its device: the same sorting network of
    element-wise minima and maxima over the nine shifted copies, edges mirrored, so the values are equal."""
    from ml.phantom.case import _MEDIAN9  # the network's table; imported only when a median is taken

    h, w = hu.shape[-2:]
    rows = torch.cat([hu[..., :1, :], hu, hu[..., -1:, :]], dim=-2)
    padded = torch.cat([rows[..., :1], rows, rows[..., -1:]], dim=-1)
    p = [padded[..., i : i + h, j : j + w] for i in range(3) for j in range(3)]
    for a, b in _MEDIAN9:
        p[a], p[b] = torch.minimum(p[a], p[b]), torch.maximum(p[a], p[b])
    return p[4].contiguous()


def _groups(shapes: Sequence[tuple[int, int]]) -> dict[tuple[int, int], list[int]]:
    groups: dict[tuple[int, int], list[int]] = {}
    for k, shape in enumerate(shapes):
        groups.setdefault(shape, []).append(k)
    return groups


class DeviceTransform:
    """``RawBatch`` -> ``(B, 3, size, size)`` float32 network input, on the batch's device (module doc).

    Args:
        windowing: preset of ``ml.preprocess.window_channels`` (the dataset's).
        size: network input side (the dataset's).
    """

    def __init__(self, windowing: str, size: int) -> None:
        self.windowing = windowing
        self.size = size
        self._air = air_value(windowing)
        self._fill: dict[torch.device, torch.Tensor] = {}

    def fill(self, device: torch.device) -> torch.Tensor:
        """The value of air per channel (``ml.augment.air_value``) on ``device``."""
        if device not in self._fill:
            self._fill[device] = self._air.to(device)
        return self._fill[device]

    def __call__(self, batch: RawBatch) -> torch.Tensor:
        if batch.hu.device.type == "cpu" and len(batch) > CPU_CHUNK:
            # A CPU works best on a few images at a time (in cache, no page faults on large buffers).
            parts = [self(batch.subset(k, k + CPU_CHUNK)) for k in range(0, len(batch), CPU_CHUNK)]
            return torch.cat(parts)
        return self._images(batch)

    def _images(self, batch: RawBatch) -> torch.Tensor:
        device = batch.hu.device
        out = torch.empty((len(batch), 3, self.size, self.size), dtype=torch.float32, device=device)
        groups = _groups(batch.shapes)
        partner_of = {k: j for j, k in enumerate(batch.mixed)}
        for (h, w), members in groups.items():
            whole = len(groups) == 1
            rows = None if whole else _index(members, device)
            hu = (batch.hu if rows is None else batch.hu.index_select(0, rows))[:, :h, :w]
            local = {k: i for i, k in enumerate(members)}
            mixed = [k for k in batch.mixed if k in local]
            partners = batch.partners.index_select(0, _index([partner_of[k] for k in mixed], device))
            images = self._window_and_mix(
                hu,
                partners[:, :h, :w],
                batch.weights.index_select(0, _index(mixed, device)),
                [local[k] for k in mixed],
                {local[k] for k in batch.median if k in local},
            )
            images = resize(images, self.size)
            if rows is None:
                out = images
            else:
                out.index_copy_(0, rows, images)
        out = normalize(out)
        if batch.moving:
            moving = _index(batch.moving, device)
            moved = affine_batch(
                out.index_select(0, moving), batch.thetas.index_select(0, moving), self.fill(device)
            )
            out.index_copy_(0, moving, moved)
        return out

    def _window_and_mix(
        self,
        hu: torch.Tensor,
        partners: torch.Tensor,
        weights: torch.Tensor,
        mixed: list[int],
        median: set[int],
    ) -> torch.Tensor:
        """``(n, h, w)`` HU -> ``(n, 3, h, w)`` windowed, the ``mixed`` rows mixed with their ``partners``
        (``weights`` their ``(b, 1 - b)``); the HU of the ``median`` rows (and of their partners) denoised."""
        if median:
            hu, partners = hu.clone(), partners.clone()
            rows = _index(sorted(median), hu.device)
            hu[rows] = median3x3_torch(hu[rows])
            pairs = [j for j, k in enumerate(mixed) if k in median]
            if pairs:
                prow = _index(pairs, hu.device)
                partners[prow] = median3x3_torch(partners[prow])
        x = window_channels_torch(hu, self.windowing)
        if mixed:
            rows = _index(mixed, hu.device)
            w = weights.view(-1, 2, 1, 1, 1)
            partner = window_channels_torch(partners, self.windowing)
            # The CPU path's float32 operations: b x_s, then + (1 - b) x_t.
            mix = x.index_select(0, rows).mul_(w[:, 0]).add_(partner.mul_(w[:, 1]))
            x.index_copy_(0, rows, mix)
        return x


def _index(rows: Sequence[int], device: torch.device) -> torch.Tensor:
    return torch.as_tensor(rows, dtype=torch.long).to(device, non_blocking=True)
