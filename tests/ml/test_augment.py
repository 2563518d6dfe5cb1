from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from ml.augment import (
    AugmentParams,
    affine_batch,
    air_value,
    apply_geometric,
    denoise,
    geometric_matrix,
    noise_variant,
    rotate,
    sample_params,
    sampling_grid,
    sampling_grids,
    scale,
    translate,
)
from ml.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize, window_channels


def _image(h: int = 16, w: int = 16) -> torch.Tensor:
    return torch.arange(3 * h * w, dtype=torch.float32).reshape(3, h, w) / (h * w)


def test_draws_cover_the_paper_grids_and_nothing_else() -> None:
    rng = np.random.default_rng(0)
    draws = [sample_params(rng) for _ in range(4000)]
    assert sorted({p.angle for p in draws}) == list(range(-10, 11))
    assert sorted({round(p.scale_y * 100) for p in draws}) == list(range(90, 101))
    assert sorted({round(p.scale_x * 100) for p in draws}) == list(range(90, 101))
    for shifts in ({p.shift_x for p in draws}, {p.shift_y for p in draws}):
        assert sorted(shifts) == list(range(-12, 13))
    assert all(p.scale_y * 100 == pytest.approx(round(p.scale_y * 100)) for p in draws)
    assert 0.45 < np.mean([p.denoised for p in draws]) < 0.55
    # Height and width are drawn independently.
    assert any(p.scale_x != p.scale_y for p in draws)


def test_draws_are_deterministic_for_a_seed() -> None:
    a = [sample_params(np.random.default_rng(7)) for _ in range(3)]
    b = [sample_params(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    assert sample_params(np.random.default_rng(8)) != a[0]


def test_identity_parameters_return_the_image_unchanged() -> None:
    x = _image()
    assert apply_geometric(x, AugmentParams()) is x
    assert torch.equal(rotate(x, 0), x)
    assert torch.equal(scale(x, 1.0, 1.0), x)
    assert torch.equal(translate(x, 0, 0), x)


def test_rotation_is_counter_clockwise_and_same_on_every_channel() -> None:
    x = _image()
    turned = rotate(x, 90)
    assert torch.allclose(turned, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
    batch = torch.stack([x, 2 * x])
    assert torch.allclose(rotate(batch, 7)[1], 2 * rotate(x, 7), atol=1e-5)


def test_translation_moves_pixels_and_fills_with_air() -> None:
    x = _image()
    fill = air_value("paper")
    shifted = translate(x, 3, -2, fill=fill)
    assert torch.allclose(shifted[:, :-2, 3:], x[:, 2:, :-3], atol=1e-5)
    assert torch.allclose(shifted[:, :, :3], fill.view(3, 1, 1).expand(3, 16, 3), atol=1e-5)
    # Native-input pixels: half the size, half the shift.
    params = AugmentParams(shift_x=6)
    assert torch.allclose(
        apply_geometric(x, params, fill, pixel_scale=0.5), translate(x, 3, 0, fill), atol=1e-6
    )


def test_scale_shrinks_about_the_centre() -> None:
    x = torch.ones(3, 20, 20)
    fill = -5.0
    out = scale(x, 0.9, 0.5, fill=fill)
    assert torch.allclose(out[:, 10, 10], torch.ones(3))
    assert torch.allclose(out[:, 10, 0], torch.full((3,), fill))  # width shrunk to half: air at the side
    assert torch.allclose(out[:, 0, 10], torch.full((3,), fill), atol=1e-5)  # height 90 %: air rows
    assert out.shape == x.shape


def test_air_value_is_computed_from_the_windows() -> None:
    expected = (0.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    for preset in ("paper", "lewicki", "brain"):
        assert torch.allclose(air_value(preset), expected)
        direct = normalize(torch.from_numpy(window_channels(np.full((1, 2, 2), -1000), preset)))
        assert torch.allclose(air_value(preset), direct[0, :, 0, 0])


def test_noise_variant_standard_scanner_or_median() -> None:
    rng = np.random.default_rng(1)
    hu = rng.integers(-100, 100, size=(2, 12, 12)).astype(np.int16)
    scanner = hu + 1
    assert noise_variant(hu, scanner, use_denoised=False) is hu
    assert noise_variant(hu, scanner, use_denoised=True) is scanner
    median = ndimage.median_filter(hu, size=(1, 3, 3), mode="mirror")
    assert np.array_equal(noise_variant(hu, None, use_denoised=True), denoise(hu))
    assert np.array_equal(denoise(hu)[:, 1:-1, 1:-1], median[:, 1:-1, 1:-1])
    assert np.array_equal(denoise(hu[0]), denoise(hu)[0])


@pytest.mark.parametrize("shape", [(224, 224), (299, 299), (37, 50), (1, 5)])
def test_sampling_grid_equals_torch_affine_grid(shape: tuple[int, int]) -> None:
    h, w = shape
    rng = np.random.default_rng(sum(shape))
    for _ in range(10):
        theta = torch.as_tensor(rng.uniform(-1.2, 1.2, (2, 3)), dtype=torch.float32)
        reference = torch.nn.functional.affine_grid(theta[None], [1, 3, h, w], align_corners=False)
        ours = sampling_grid(theta, h, w)
        assert ours.shape == reference.shape
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)


def test_sampling_grids_equal_the_grid_of_each_matrix() -> None:
    thetas = torch.as_tensor(np.random.default_rng(2).uniform(-1.2, 1.2, (5, 2, 3)), dtype=torch.float32)
    grids = sampling_grids(thetas, 37, 50)
    assert grids.shape == (5, 37, 50, 2)
    for k in range(5):
        assert torch.equal(grids[k : k + 1], sampling_grid(thetas[k], 37, 50))


def test_affine_batch_equals_apply_geometric_per_image_and_identity_has_no_matrix() -> None:
    rng = np.random.default_rng(4)
    images = torch.as_tensor(rng.normal(size=(6, 3, 40, 40)), dtype=torch.float32)
    params = [sample_params(rng) for _ in range(6)]
    fill = air_value("paper")
    matrices = [geometric_matrix(p, 40, 40, pixel_scale=0.5) for p in params]
    assert all(m is not None and m.shape == (2, 3) for m in matrices)
    thetas = torch.as_tensor(np.stack([m for m in matrices if m is not None]), dtype=torch.float32)
    batch = affine_batch(images, thetas, fill=fill)
    for k, p in enumerate(params):
        assert torch.equal(batch[k], apply_geometric(images[k], p, fill=fill, pixel_scale=0.5))
    assert geometric_matrix(AugmentParams(denoised=True), 40, 40) is None
