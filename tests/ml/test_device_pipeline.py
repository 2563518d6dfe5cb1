"""The device path of the training input (ml.gpu_batch, Recipe.device_preprocess): workers send int16 HU and
the draws, one batched function builds the images, and they equal today's per-item images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.augment import sample_params
from ml.data import CaseData
from ml.gpu_batch import DeviceTransform, RawBatch, collate_raw, median3x3_torch
from ml.phantom import PhantomConfig, generate_case
from ml.phantom.case import median3x3
from ml.recipes import RECIPES, STEPS, Recipe
from ml.slices import SliceBatchSampler, SliceDataset, make_loader, make_raw_loader
from ml.trainer import ArchTrainer, RunSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
#: Largest difference allowed between the two paths' normalised images: on a CPU they are the same
#: operations in the same order (observed: equal to the last bit); CUDA's resize and grid-sample kernels
#: round differently from the CPU's.
TOLERANCE = {"cpu": 1e-5, "cuda": 1e-4}


def _phantoms(scanner_series: bool, n: int = 4) -> list[CaseData]:
    cfg = PhantomConfig(seed=3, size=64, slices_min=5, slices_max=6, negative_fraction=0.3, denoised=True)
    out = []
    for i in range(n):
        c = generate_case(cfg, i)
        out.append(
            CaseData(c.case_id, c.patient.patient_id, c.hu, c.labels, c.denoised if scanner_series else None)
        )
    return out


@pytest.fixture(scope="module")
def with_series() -> list[CaseData]:
    return _phantoms(True)


@pytest.fixture(scope="module")
def median_only() -> list[CaseData]:
    return _phantoms(False)


def _compare(data: SliceDataset, device: str, batches: int = 2) -> tuple[float, RawBatch]:
    transform = DeviceTransform(data.windowing, data.size)
    worst, raw = 0.0, None
    for keys in list(SliceBatchSampler(data, 12, seed=7))[:batches]:
        today = [data[key] for key in keys]
        raw = collate_raw([data.raw_item(key) for key in keys]).to(device)
        images = transform(raw)
        assert images.shape == (len(keys), 3, data.size, data.size) and images.dtype == torch.float32
        assert torch.equal(raw.labels.cpu(), torch.stack([y for _, y in today]))
        worst = max(worst, float((images.cpu() - torch.stack([x for x, _ in today])).abs().max()))
    assert raw is not None
    return worst, raw


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("crop", [False, True])
@pytest.mark.parametrize("step", ["M1", "M2", "M3", "M4"])
def test_device_batch_equals_the_cpu_batch_for_every_step(
    step: str, crop: bool, device: str, with_series: list[CaseData], median_only: list[CaseData]
) -> None:
    config = STEPS[step]
    windowing = "paper" if config.multi_window else "brain"
    for cases in (with_series, median_only):
        data = SliceDataset(
            cases, config, windowing=windowing, size=32, native_size=224, train=True, crop_to_head=crop
        )
        worst, raw = _compare(data, device)
        assert worst <= TOLERANCE[device], (step, crop, worst)
        assert bool(raw.mixed) == config.interpolation and bool(raw.moving) == config.augmentation
        assert len({shape for shape in raw.shapes}) > 1 if crop else raw.shapes[0] == (64, 64)
    assert bool(raw.median) == config.augmentation  # the cases without a scanner series


@pytest.mark.parametrize("device", DEVICES)
def test_device_batch_equals_the_cpu_batch_when_upsampling_and_for_validation(
    device: str, median_only: list[CaseData]
) -> None:
    train = SliceDataset(median_only, STEPS["M4"], windowing="paper", size=96, train=True, crop_to_head=True)
    assert _compare(train, device)[0] <= TOLERANCE[device]
    val = SliceDataset(median_only, STEPS["M4"], windowing="paper", size=32, train=False)
    transform = DeviceTransform("paper", 32)
    for (x, y), raw in zip(
        make_loader(val, SliceBatchSampler(val, 8, shuffle=False)),
        make_raw_loader(val, SliceBatchSampler(val, 8, shuffle=False)),
        strict=True,
    ):
        assert not (raw.mixed or raw.median or raw.moving)
        assert float((transform(raw.to(device)).cpu() - x).abs().max()) <= TOLERANCE[device]
        assert torch.equal(raw.labels, y)


def test_a_raw_item_is_the_int16_slices_and_the_small_draws(with_series: list[CaseData]) -> None:
    data = SliceDataset(with_series, STEPS["M4"], windowing="paper", size=32, native_size=224, train=True)
    keys = next(iter(SliceBatchSampler(data, 16, seed=1)))
    b1, b2 = keys[0].betas or (0.0, 0.0)
    for key in keys:
        item = data.raw_item(key)
        ci, s, t, bi = (int(v) for v in data.items[key.item])
        case = with_series[ci]
        source = case.denoised if sample_params(np.random.default_rng(key.seed)).denoised else case.hu
        assert item.hu.dtype == np.int16 and np.array_equal(item.hu, source[[s] if t < 0 else [s, t]])
        b = np.float32((b1, b2)[bi])
        assert item.weights == ((1.0, 0.0) if t < 0 else (float(b), float(np.float32(1) - b)))
        assert item.theta is not None and item.theta.dtype == np.float32 and item.theta.shape == (2, 3)
        assert not item.median  # these cases have a scanner series
        again = data.raw_item(key)  # the same seeded draws
        assert np.array_equal(again.hu, item.hu) and np.array_equal(again.theta, item.theta)
    raw = collate_raw([data.raw_item(k) for k in keys])
    assert raw.hu.dtype == torch.int16 and raw.hu.shape == (16, 64, 64)
    assert raw.partners.shape == (len(raw.mixed), 64, 64)
    for j, k in enumerate(raw.mixed):
        assert torch.equal(raw.partners[j], torch.from_numpy(data.raw_item(keys[k]).hu[1]))
    assert raw.labels.shape == (16, 6) and raw.thetas.shape == (16, 2, 3)
    part = raw.subset(4, 10)
    assert len(part) == 6 and part.mixed == tuple(k - 4 for k in raw.mixed if 4 <= k < 10)
    assert torch.equal(part.partners, raw.partners[[j for j, k in enumerate(raw.mixed) if 4 <= k < 10]])


def test_collate_pads_to_the_largest_slice() -> None:
    data = SliceDataset(_phantoms(True, 3), STEPS["M3"], windowing="paper", size=32, crop_to_head=True)
    items = [data.raw_item(k) for k in (0, len(data) - 1)]
    raw = collate_raw(items)
    assert raw.shapes == tuple(item.hu.shape[1:] for item in items) and raw.shapes[0] != raw.shapes[1]
    k = int(np.argmin([s[0] for s in raw.shapes]))
    h, w = raw.shapes[k]
    assert torch.equal(raw.hu[k, :h, :w], torch.from_numpy(items[k].hu[0]))
    assert (
        not raw.hu[k, h:].any()
        and not raw.hu[k, :, w:].any()
        and raw.partners.shape == (0, *raw.hu.shape[1:])
    )
    with pytest.raises(ValueError, match="empty"):
        collate_raw([])


def test_median3x3_torch_equals_the_numpy_median() -> None:
    rng = np.random.default_rng(5)
    for shape in ((2, 9, 13), (1, 1, 1), (3, 2, 5)):
        hu = rng.integers(-1024, 3000, size=shape).astype(np.int16)
        assert np.array_equal(median3x3_torch(torch.from_numpy(hu)).numpy(), median3x3(hu))


def test_raw_loader_with_a_worker_process_gives_the_same_batches(with_series: list[CaseData]) -> None:
    data = SliceDataset(with_series, STEPS["M4"], windowing="paper", size=32, train=True)
    sampler = SliceBatchSampler(data, 8, seed=2, max_batches=2)
    here = list(make_raw_loader(data, sampler))
    there = list(make_raw_loader(data, sampler, num_workers=1))
    assert len(here) == len(there) == 2
    for a, b in zip(here, there, strict=True):
        assert isinstance(b, RawBatch) and torch.equal(a.hu, b.hu) and torch.equal(a.partners, b.partners)
        assert torch.equal(a.thetas, b.thetas) and torch.equal(a.weights, b.weights)
        assert (a.shapes, a.mixed, a.moving) == (b.shapes, b.mixed, b.moving)


def test_recipe_option_is_checked_and_resolves_by_device() -> None:
    lite = RECIPES["lite"]
    assert lite.device_preprocess == "auto" and RECIPES["paper"].device_preprocess == "auto"
    with pytest.raises(ValueError, match="device_preprocess"):
        lite.with_(device_preprocess="gpu")
    on = lite.with_(device_preprocess="on")
    assert Recipe.from_dict(on.to_dict()) == on
    assert not RunSettings.create(lite, "cpu").device_preprocess  # auto on a CPU: today's path
    assert RunSettings.create(on, "cpu").device_preprocess
    assert not RunSettings.create(lite.with_(device_preprocess="off"), "cpu").device_preprocess


def test_the_trainer_on_the_device_path_trains_as_on_the_cpu_path(
    tmp_path: Path, with_series: list[CaseData]
) -> None:
    # No image cache: the cached path rounds the images to float16, the device path does not.
    recipe = RECIPES["lite"].with_(input_size=32, batch_size=8, max_steps_per_epoch=2, cache_images=False)
    losses, weights = [], []
    for mode in ("off", "on"):
        r = recipe.with_(device_preprocess=mode)
        run = RunSettings.create(r, "cpu")
        trainer = ArchTrainer("tiny", r, with_series[:3], with_series[3:], tmp_path / mode, run)
        losses.append((trainer.train_epoch(1, r.base_lr), trainer.validate()[0]))
        weights.append(torch.cat([p.detach().flatten() for p in trainer.model.parameters()]))
    assert losses[1] == pytest.approx(losses[0], abs=1e-6)
    torch.testing.assert_close(weights[1], weights[0], rtol=0, atol=1e-6)
