"""The slice dataset that feeds the networks, with M4 interpolation and augmentation.

See docs/science.md, "Ablation steps M1-M4", "Slice interpolation" and "Augmentation".

Every image goes through the one preprocessing path of ``ml.preprocess``: HU -> window (the step's
preset) -> [0, 1] -> (M4: slice interpolation) -> resize -> ImageNet normalisation -> (M4: augmentation).

**Items.** A validation (or non-M4) dataset has one item per slice. A training dataset with interpolation
(M4) has, per case of ``Z`` slices, the ``Z`` originals plus the ``2 Z`` interpolated images of
``ml.interpolation.training_pairs`` (toward ``s - 1`` and ``s + 1``; two with different ``b`` at an edge).

**b per batch.** An interpolated item has no image until it is given ``b``: it is read with a ``SliceKey``
carrying the batch's ``(b1, b2)``. ``SliceBatchSampler`` shuffles all items of an epoch, cuts them into
batches of ``batch_size`` images (originals and interpolated images mixed at random), and draws one
``(b1, b2) = sample_betas(rng)`` per batch: every interpolated image of the batch uses ``b1``, the edge
slices' second interpolation ``b2``. This is "b drawn uniformly from (0.5, 1.0) per batch" exactly.
The sampler also gives each image its own augmentation seed, so an epoch's images depend only on
``(seed, epoch)``: whatever the number of DataLoader workers, and after a resume.

**Balanced batches** (``positive_fraction``, the ``balanced`` sampling of ``ml.recipes.Recipe``): instead of
a shuffle, each batch takes ``round(positive_fraction x batch_size)`` items whose own slice is positive for
a subtype, the subtype drawn uniformly among those the training set has (so a rare EDH is shown as often
as a common SDH), and fills the rest with items drawn uniformly from all; both with replacement.
``label_rates`` gives the share of positives per label the net is then shown (for eq. 3).

**Device path** (``Recipe.device_preprocess``): ``make_raw_loader`` reads ``SliceDataset.raw_item`` instead,
the item's int16 HU slices and its draws (the same ``b`` and seeds), and ``ml.gpu_batch.DeviceTransform``
builds the same images on the training device, a batch at a time.

Example::

    >>> data = SliceDataset(cases, STEPS["M4"], windowing="paper", size=128, train=True)
    >>> loader = make_loader(data, SliceBatchSampler(data, batch_size=32, seed=0))
    >>> images, labels = next(iter(loader))        # (32, 3, 128, 128), (32, 6)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import DataLoader, Dataset, Sampler

from ml.augment import (
    AugmentParams,
    air_value,
    apply_geometric,
    geometric_matrix,
    noise_variant,
    sample_params,
)
from ml.crop import crop_volume, head_box
from ml.data import CaseData
from ml.gpu_batch import RawItem, collate_raw
from ml.interpolation import interpolate_training_volume, sample_betas, training_pairs
from ml.labels import SUBTYPES
from ml.preprocess import normalize, prepare_volume, resize, window_channels
from ml.recipes import StepConfig

__all__ = ["RawSlices", "SliceBatchSampler", "SliceDataset", "SliceKey", "make_loader", "make_raw_loader"]

#: Slices windowed and resized per call when a case's images are cached (keeps the float32 copies small).
PREPARE_CHUNK = 8


@dataclass(frozen=True)
class SliceKey:
    """What ``SliceDataset`` needs to build one image.

    Attributes:
        item: index of the item (``SliceDataset.items``).
        betas: the batch's ``(b1, b2)``; required for interpolated items.
        seed: augmentation seed of this image; None = no augmentation.
    """

    item: int
    betas: tuple[float, float] | None = None
    seed: int | None = None


class SliceDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """2D slices of CT cases as ``(image (3, size, size) float32, label (n_outputs,) float32)``.

    Args:
        cases: the cases.
        step: ablation switches; ``step.n_outputs`` label columns (5 for M1, the subtypes; else 6).
        windowing: preset of ``ml.preprocess.window_channels`` (``Recipe.windowing_for_step()``).
        size: network input side.
        native_size: the arch's native input side; translations are drawn in its pixels (``ml.augment``).
        train: with ``step.interpolation``, add the interpolated items; with ``step.augmentation``, augment
            images read with a seeded ``SliceKey``. False gives the original slices, unaugmented.
        crop_to_head: cut each case to its head box (``ml.crop.head_box``) before windowing and resizing.
        cache_images: keep each case's network-ready slices (windowed, resized, normalised; standard and
            denoised) in memory as float16 once first read, and build interpolated items from them (the
            steps are linear, so the images are the same up to float16 rounding). About 2.5 MB per
            26-slice case and variant at 128 px: it halves the cost of an image on a CPU.
    """

    def __init__(
        self,
        cases: Sequence[CaseData],
        step: StepConfig,
        *,
        windowing: str,
        size: int,
        native_size: int | None = None,
        train: bool = True,
        crop_to_head: bool = False,
        cache_images: bool = False,
    ) -> None:
        self.cases = list(cases)
        self.step = step
        self.windowing = windowing
        self.size = size
        self.pixel_scale = size / (native_size or size)
        self.interpolating = train and step.interpolation
        self.augmenting = train and step.augmentation
        self.fill = air_value(windowing)
        self.crop_to_head = crop_to_head
        self.cache_images = cache_images
        self._prepared: dict[tuple[int, bool], torch.Tensor] = {}
        self._item_labels: NDArray[np.bool_] | None = None
        rows = []
        for ci, case in enumerate(self.cases):
            rows += [(ci, s, -1, -1) for s in range(case.n_slices)]
            if self.interpolating:
                rows += [(ci, s, t, bi) for s, t, bi in training_pairs(case.n_slices)]
        #: ``(K, 4)``: case index, slice, neighbour (-1 for an original), beta index (0 = b1, 1 = b2).
        self.items: NDArray[np.int64] = np.array(rows, dtype=np.int64).reshape(-1, 4)
        self._volumes: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def _volume(self, ci: int) -> tuple[np.ndarray, np.ndarray | None]:
        if ci not in self._volumes:
            case = self.cases[ci]
            hu, denoised = case.volume(), case.denoised_volume()
            if self.crop_to_head:
                box = head_box(hu)
                hu = crop_volume(hu, box)
                denoised = None if denoised is None else crop_volume(denoised, box)
            self._volumes[ci] = (hu, denoised)
        return self._volumes[ci]

    def _draw(self, key: int | SliceKey) -> tuple[SliceKey, AugmentParams | None, NDArray[np.float32]]:
        """The key, its augmentation draw (None: not augmented) and the label rows of its slices."""
        if not isinstance(key, SliceKey):
            key = SliceKey(int(key))
        ci, s, t, _ = (int(v) for v in self.items[key.item])
        params = (
            sample_params(np.random.default_rng(key.seed))
            if self.augmenting and key.seed is not None
            else None
        )
        if t >= 0 and key.betas is None:
            raise ValueError("an interpolated item needs the batch's b: read it through SliceBatchSampler")
        rows = [s] if t < 0 else [s, t]
        return key, params, self.cases[ci].labels[rows, : self.step.n_outputs]

    def __getitem__(self, key: int | SliceKey) -> tuple[torch.Tensor, torch.Tensor]:
        key, params, y = self._draw(key)
        ci, s, t, bi = (int(v) for v in self.items[key.item])
        rows = [s] if t < 0 else [s, t]
        use_denoised = params is not None and params.denoised
        if self.cache_images:
            x: Any = self._case_images(ci, use_denoised)[rows].float()
        else:
            hu, denoised = self._volume(ci)
            slices = noise_variant(hu[rows], None if denoised is None else denoised[rows], use_denoised)
            x = window_channels(np.asarray(slices), self.windowing)
        if t >= 0:
            assert key.betas is not None
            # The pair (x_s, x_t) as a two-slice volume: its slice 0 mixes toward t with b1 and with b2.
            images, targets = interpolate_training_volume(x, y, key.betas, slices=[0])
            x, y = images[bi : bi + 1], targets[bi : bi + 1]
        if self.cache_images:
            image = torch.as_tensor(x, dtype=torch.float32)[0]
        else:
            image = normalize(resize(torch.from_numpy(np.ascontiguousarray(x)), self.size))[0]
        if params is not None:
            image = apply_geometric(image, params, fill=self.fill, pixel_scale=self.pixel_scale)
        return image.contiguous(), torch.from_numpy(np.asarray(y[0], dtype=np.float32))

    def raw_item(self, key: int | SliceKey) -> RawItem:
        """What the device path (``ml.gpu_batch``) needs of an item: its HU slices as stored and its draws.

        The same draws as ``__getitem__`` (the key's ``b`` and augmentation seed); ``cache_images`` is not
        used: the float work is the device's.
        """
        key, params, y = self._draw(key)
        ci, s, t, bi = (int(v) for v in self.items[key.item])
        rows = [s] if t < 0 else [s, t]
        hu, denoised = self._volume(ci)
        use_denoised = params is not None and params.denoised
        source = denoised if use_denoised and denoised is not None else hu
        weights = (1.0, 0.0)
        if t >= 0:
            assert key.betas is not None
            _, targets = interpolate_training_volume(y, y, key.betas, slices=[0])
            y = targets[bi : bi + 1]
            b = np.float32(key.betas[bi])
            weights = (float(b), float(np.float32(1) - b))  # the float32 b and 1 - b of the CPU path's mix
        matrix = None if params is None else geometric_matrix(params, self.size, self.size, self.pixel_scale)
        return RawItem(
            hu=np.asarray(source[rows]),
            weights=weights,
            median=use_denoised and denoised is None,
            theta=None if matrix is None else matrix.astype(np.float32),
            label=np.asarray(y[0], dtype=np.float32),
        )

    def _case_images(self, ci: int, denoised: bool) -> torch.Tensor:
        """``(Z, 3, size, size)`` float16 network input of a case (its standard or denoised variant)."""
        key = (ci, denoised)
        if key not in self._prepared:
            hu, scanner = self._volume(ci)
            slices = noise_variant(np.asarray(hu), None if scanner is None else np.asarray(scanner), denoised)
            self._prepared[key] = torch.cat(
                [
                    prepare_volume(slices[k : k + PREPARE_CHUNK], self.windowing, self.size).half()
                    for k in range(0, len(slices), PREPARE_CHUNK)
                ]
            )
        return self._prepared[key]

    def is_interpolated(self, item: int) -> bool:
        return bool(self.items[item, 2] >= 0)

    def item_labels(self) -> NDArray[np.bool_]:
        """``(K, n_outputs)``: the labels of each item's own slice (an interpolated item: of slice ``s``).

        Computed once (the items never change); callers get a read-only array.
        """
        if self._item_labels is None:
            out = np.zeros((len(self.items), self.step.n_outputs), dtype=bool)
            for ci, case in enumerate(self.cases):
                rows = self.items[:, 0] == ci
                out[rows] = case.labels[self.items[rows, 1], : self.step.n_outputs] > 0
            out.setflags(write=False)
            self._item_labels = out
        return self._item_labels


class SliceBatchSampler(Sampler[list[SliceKey]]):
    """Batches of ``SliceKey`` with one ``b`` pair per batch and one augmentation seed per image (M4).

    Epoch ``e`` uses ``numpy.random.default_rng([seed, e])`` for its order, its ``b`` and its seeds.

    Args:
        dataset: the ``SliceDataset``.
        batch_size: images per batch.
        seed: seed of the draws.
        shuffle: shuffle the items each epoch (training) or keep their order (validation).
        max_batches: stop the epoch after this many batches (None = all).
        drop_last: drop a last, smaller batch.
        positive_fraction: balanced batches (module doc) with this share of subtype-positive items;
            None = the shuffle.
    """

    def __init__(
        self,
        dataset: SliceDataset,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        max_batches: int | None = None,
        drop_last: bool = False,
        positive_fraction: float | None = None,
    ) -> None:
        if positive_fraction is not None and not 0 < positive_fraction <= 1:
            raise ValueError(f"positive_fraction must be in (0, 1], got {positive_fraction}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.max_batches = max_batches
        self.drop_last = drop_last
        self.epoch = 0
        self.positive_fraction = positive_fraction
        self._pools: list[NDArray[np.int64]] = []
        if positive_fraction is not None:
            labels = dataset.item_labels()
            pools = [np.flatnonzero(labels[:, c]) for c in range(min(len(SUBTYPES), labels.shape[1]))]
            self._pools = [pool for pool in pools if len(pool)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        batches = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return batches if self.max_batches is None else min(batches, self.max_batches)

    @property
    def n_positive(self) -> int:
        """Subtype-positive items per balanced batch (0 for the shuffle or without positive items)."""
        if self.positive_fraction is None or not self._pools:
            return 0
        return min(self.batch_size, round(self.positive_fraction * self.batch_size))

    def label_rates(self) -> NDArray[np.float64]:
        """Expected share of positive images per label in the batches (the data's own for the shuffle)."""
        labels = self.dataset.item_labels().astype(np.float64)
        overall: NDArray[np.float64] = labels.mean(axis=0) if len(labels) else np.zeros(labels.shape[1])
        if not self.n_positive:
            return overall
        balanced: NDArray[np.float64] = np.mean([labels[pool].mean(axis=0) for pool in self._pools], axis=0)
        f = self.n_positive / self.batch_size
        return f * balanced + (1 - f) * overall

    def _balanced(self, rng: np.random.Generator, size: int) -> NDArray[np.int64]:
        n_pos = self.n_positive
        picks = [
            pool[rng.integers(len(pool))]
            for pool in (self._pools[k] for k in rng.integers(len(self._pools), size=n_pos))
        ]
        rest = rng.integers(len(self.dataset), size=size - n_pos)
        return np.concatenate([np.asarray(picks, dtype=np.int64), rest])

    def __iter__(self) -> Iterator[list[SliceKey]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.dataset)
        balanced = self.positive_fraction is not None
        order = rng.permutation(n) if self.shuffle and not balanced else np.arange(n)
        for b in range(len(self)):
            if balanced:
                chunk = self._balanced(rng, self.batch_size)
            else:
                chunk = order[b * self.batch_size : (b + 1) * self.batch_size]
            betas = sample_betas(rng) if self.dataset.interpolating else None
            seeds = rng.integers(1, 2**63 - 1, size=len(chunk)) if self.dataset.augmenting else None
            yield [
                SliceKey(int(i), betas, None if seeds is None else int(seeds[k])) for k, i in enumerate(chunk)
            ]


def make_loader(
    dataset: SliceDataset, sampler: SliceBatchSampler, num_workers: int = 0, pin_memory: bool = False
) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
    """A DataLoader over ``dataset`` driven by ``sampler`` (batches stacked by the default collate)."""
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, pin_memory=pin_memory)


class RawSlices(Dataset[RawItem]):
    """``dataset.raw_item`` as a dataset: the items of the device path (``ml.gpu_batch``)."""

    def __init__(self, dataset: SliceDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | SliceKey) -> RawItem:
        return self.dataset.raw_item(key)


def make_raw_loader(
    dataset: SliceDataset, sampler: SliceBatchSampler, num_workers: int = 0, pin_memory: bool = False
) -> DataLoader[RawItem]:
    """``make_loader`` for the device path: batches of ``ml.gpu_batch.RawBatch`` (``collate_raw``)."""
    return DataLoader(
        RawSlices(dataset),
        batch_sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        collate_fn=collate_raw,
    )
