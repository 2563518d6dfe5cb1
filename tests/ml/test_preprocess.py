from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.interpolation import interpolated_batch
from ml.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    normalize,
    prepare_volume,
    resize,
    window_channels,
    window_channels_torch,
    window_float_torch,
    windowing_names,
)
from ml.windowing import RGB_PRESETS, WINDOWS, window_float


def test_paper_preset_channels_are_tissue_brain_blood():
    hu = np.array([[[40]]], dtype=np.int16)  # the level of tissue (40/40); 50/100 brain; 60/40 blood
    rgb = window_channels(hu, "paper")[0, :, 0, 0]
    np.testing.assert_allclose(rgb, [0.5, 0.4, 0.0], atol=1e-6)


def test_single_window_is_repeated_on_three_channels():
    hu = np.random.default_rng(0).integers(-100, 200, (2, 8, 8)).astype(np.int16)
    x = window_channels(hu, "brain")
    assert x.shape == (2, 3, 8, 8) and np.array_equal(x[:, 0], x[:, 2])


def test_unknown_windowing_names_valid_ones():
    with pytest.raises(ValueError, match=r"valid: .*paper"):
        window_channels(np.zeros((1, 2, 2)), "lung")


def test_normalisation_and_resize():
    ones = torch.ones(1, 3, 4, 4)
    out = normalize(ones)[0, :, 0, 0]
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert resize(torch.zeros(2, 3, 64, 64), 32).shape == (2, 3, 32, 32)


def test_interpolating_after_preprocessing_equals_interpolating_the_windowed_images():
    rng = np.random.default_rng(1)
    hu = rng.integers(-50, 150, (4, 32, 32)).astype(np.int16)
    after, _ = interpolated_batch(prepare_volume(hu, "paper", 16), 3)
    windowed = torch.from_numpy(window_channels(hu, "paper"))
    before, _ = interpolated_batch(windowed, 3)
    np.testing.assert_allclose(after.numpy(), normalize(resize(before, 16)).numpy(), atol=1e-5)


def _hu_with_extremes(rng: np.random.Generator) -> np.ndarray:
    hu = rng.integers(-32768, 32768, (3, 16, 16)).astype(np.int16)
    hu[0, 0, :8] = [-32768, 32767, -1000, 0, 40, 39, 41, -1]
    hu[1] = rng.integers(-200, 300, (16, 16))  # around the windows, where the values vary
    return hu


@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_torch_window_equals_numpy_on_int16_hu_with_extremes(name):
    w = WINDOWS[name]
    hu = _hu_with_extremes(np.random.default_rng(2))
    ours = window_float_torch(torch.from_numpy(hu), w.level, w.width)
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), window_float(hu, w.level, w.width), rtol=0, atol=1e-6)


def test_torch_window_equals_numpy_on_float_hu_and_refuses_a_bad_width():
    hu = np.random.default_rng(3).normal(40, 400, (2, 8, 8))
    for w in WINDOWS.values():
        ours = window_float_torch(torch.from_numpy(hu), w.level, w.width).numpy()
        np.testing.assert_allclose(ours, window_float(hu, w.level, w.width), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="width"):
        window_float_torch(torch.zeros(1), 40, 0)


@pytest.mark.parametrize("windowing", windowing_names())
def test_torch_window_channels_equal_numpy_for_every_preset(windowing):
    hu = _hu_with_extremes(np.random.default_rng(4))
    ours = window_channels_torch(torch.from_numpy(hu), windowing)
    assert ours.shape == (3, 3, 16, 16)
    np.testing.assert_allclose(ours.numpy(), window_channels(hu, windowing), rtol=0, atol=1e-6)


def test_the_device_path_of_prepare_volume_gives_the_cpu_input():
    # On CUDA prepare_volume windows the int16 HU with window_channels_torch, then resizes and normalises;
    # the same steps on the CPU give what the numpy path gives.
    hu = _hu_with_extremes(np.random.default_rng(5))
    device_path = normalize(resize(window_channels_torch(torch.from_numpy(hu), "paper"), 8))
    np.testing.assert_allclose(device_path.numpy(), prepare_volume(hu, "paper", 8).numpy(), atol=1e-6)


def test_window_channels_writes_each_window_as_window_float_does():
    hu = _hu_with_extremes(np.random.default_rng(6))
    for preset, windows in RGB_PRESETS.items():
        expected = np.stack([window_float(hu, w.level, w.width) for w in windows], axis=1)
        assert np.array_equal(window_channels(hu, preset), expected)
    out = np.empty(hu.shape, np.float32)
    assert window_float(hu, 40, 80, out=out) is out
    assert np.array_equal(out, window_float(hu, 40, 80))


def test_window_float_torch_writes_into_a_channel_view() -> None:
    hu = torch.tensor([[[-1000, 0, 40, 3000]]], dtype=torch.int16)
    out = torch.full((1, 3, 1, 4), -1.0)
    window_float_torch(hu, 40, 80, out=out[:, 1])
    assert torch.equal(out[:, 1], window_float_torch(hu, 40, 80))
    assert (out[:, 0] == -1).all() and (out[:, 2] == -1).all()
