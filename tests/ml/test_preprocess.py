from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.interpolation import interpolated_batch
from ml.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize, prepare_volume, resize, window_channels


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
