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

Example::

    >>> data = SliceDataset(cases, STEPS["M4"], windowing="paper", size=128, train=True)
    >>> loader = make_loader(data, SliceBatchSampler(data, batch_size=32, seed=0))
    >>> images, labels = next(iter(loader))        # (32, 3, 128, 128), (32, 6)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import DataLoader, Dataset, Sampler

from ml.augment import air_value, apply_geometric, noise_variant, sample_params
from ml.data import CaseData
from ml.interpolation import interpolate_training_volume, sample_betas, training_pairs
from ml.preprocess import normalize, resize, window_channels
from ml.recipes import StepConfig

__all__ = ["SliceBatchSampler", "SliceDataset", "SliceKey", "make_loader"]


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
    ) -> None:
        self.cases = list(cases)
        self.step = step
        self.windowing = windowing
        self.size = size
        self.pixel_scale = size / (native_size or size)
        self.interpolating = train and step.interpolation
        self.augmenting = train and step.augmentation
        self.fill = air_value(windowing)
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
            self._volumes[ci] = (case.volume(), case.denoised_volume())
        return self._volumes[ci]

    def __getitem__(self, key: int | SliceKey) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(key, SliceKey):
            key = SliceKey(int(key))
        ci, s, t, bi = (int(v) for v in self.items[key.item])
        rows = [s] if t < 0 else [s, t]
        params = (
            sample_params(np.random.default_rng(key.seed))
            if self.augmenting and key.seed is not None
            else None
        )
        hu, denoised = self._volume(ci)
        use_denoised = params is not None and params.denoised
        slices = noise_variant(hu[rows], None if denoised is None else denoised[rows], use_denoised)
        x = window_channels(np.asarray(slices), self.windowing)
        y = self.cases[ci].labels[rows, : self.step.n_outputs]
        if t >= 0:
            if key.betas is None:
                raise ValueError(
                    "an interpolated item needs the batch's b: read it through SliceBatchSampler"
                )
            # The pair (x_s, x_t) as a two-slice volume: its slice 0 mixes toward t with b1 and with b2.
            images, targets = interpolate_training_volume(x, y, key.betas, slices=[0])
            x, y = images[bi : bi + 1], targets[bi : bi + 1]
        image = normalize(resize(torch.from_numpy(np.ascontiguousarray(x)), self.size))[0]
        if params is not None:
            image = apply_geometric(image, params, fill=self.fill, pixel_scale=self.pixel_scale)
        return image.contiguous(), torch.from_numpy(np.asarray(y[0], dtype=np.float32))

    def is_interpolated(self, item: int) -> bool:
        return bool(self.items[item, 2] >= 0)


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
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.max_batches = max_batches
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        batches = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return batches if self.max_batches is None else min(batches, self.max_batches)

    def __iter__(self) -> Iterator[list[SliceKey]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.dataset)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
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
