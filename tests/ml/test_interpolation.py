from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.interpolation import (
    DEGREE_BY_ARCH,
    INFERENCE_BETAS,
    combine,
    combine_slices,
    inference_images,
    inference_weights,
    interpolate_training,
    interpolate_training_volume,
    interpolated_batch,
    sample_beta,
    sample_betas,
    training_pairs,
)

TOY = np.array([0.0, 10.0, 20.0])[:, None, None]  # three constant 1x1 slices
TOY_LABELS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])


def test_tables_as_in_the_paper() -> None:
    assert INFERENCE_BETAS == {
        3: (0.67,),
        5: (0.8, 0.6),
        7: (0.86, 0.72, 0.58),
        9: (0.89, 0.78, 0.67, 0.56),
    }
    assert DEGREE_BY_ARCH == {"vgg16": 5, "resnet50": 3, "inception_v3": 5, "inception_resnet_v2": 3}


def test_degree3_middle_slice_hand_numbers() -> None:
    images, weights = inference_images(TOY, 1, 3)
    # Order: x_s, toward s-1, toward s+1.
    np.testing.assert_allclose(images.ravel(), [10, 0.67 * 10 + 0.33 * 0, 0.67 * 10 + 0.33 * 20])
    np.testing.assert_allclose(weights, np.array([1, 0.67, 0.67]) / 2.34)


def test_degree5_order_and_weights() -> None:
    images, weights = inference_images(TOY, 1, 5)
    np.testing.assert_allclose(images.ravel(), [10, 8, 12, 6, 14])
    np.testing.assert_allclose(weights, np.array([1, 0.8, 0.8, 0.6, 0.6]) / 3.8)
    for degree in (1, 3, 5, 7, 9):
        w = inference_weights(degree)
        assert w.shape == (degree,) and w.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="degree"):
        inference_weights(4)


def test_inference_edges_mirror_the_one_neighbour() -> None:
    first, _ = inference_images(TOY, 0, 3)
    last, _ = inference_images(TOY, 2, 3)
    np.testing.assert_allclose(first.ravel(), [0, 3.3, 3.3])
    np.testing.assert_allclose(last.ravel(), [20, 16.7, 16.7])
    single, weights = inference_images(TOY[:1], 0, 5)
    np.testing.assert_allclose(single.ravel(), [0] * 5)
    assert weights.shape == (5,)


def test_interpolated_batch_stacks_every_slice() -> None:
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(4, 3, 5, 6)).astype(np.float32)  # (Z, C, H, W)
    images, weights = interpolated_batch(volume, 5)
    assert images.shape == (20, 3, 5, 6) and images.dtype == np.float32
    assert weights.shape == (4, 5)
    for s in range(4):
        one, w = inference_images(volume, s, 5)
        np.testing.assert_allclose(images[s * 5 : s * 5 + 5], one)
        np.testing.assert_allclose(weights[s], w)
    chunk, chunk_weights = interpolated_batch(volume, 5, slices=[2, 3])
    np.testing.assert_allclose(chunk, images[10:])
    assert chunk_weights.shape == (2, 5)


def test_torch_and_integer_input() -> None:
    volume = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    images_np, _ = interpolated_batch(volume, 3)
    images_t, _ = interpolated_batch(torch.from_numpy(volume), 3)
    assert images_np.dtype == np.float32 and images_t.dtype == torch.float32
    np.testing.assert_allclose(images_t.numpy(), images_np, rtol=1e-6)


def test_combine_hand_numbers() -> None:
    probs = np.array([[0.9, 0.1], [0.5, 0.3], [0.7, 0.2]])
    np.testing.assert_allclose(combine(probs, [0.5, 0.25, 0.25]), [0.75, 0.175])
    stacked = np.concatenate([probs, probs[::-1]])
    weights = np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    np.testing.assert_allclose(
        combine_slices(stacked, weights),
        [[0.75, 0.175], [0.5 * 0.7 + 0.25 * 0.5 + 0.25 * 0.9, 0.5 * 0.2 + 0.25 * 0.3 + 0.25 * 0.1]],
    )
    with pytest.raises(ValueError):
        combine(probs, [0.5, 0.5])


def test_training_middle_slice_and_labels() -> None:
    pairs = interpolate_training(TOY, TOY_LABELS, 1, (0.7, 0.9))
    (x_prev, y_prev), (x_next, y_next) = pairs
    # Both neighbours use the batch's b = 0.7.
    assert x_prev.item() == pytest.approx(0.7 * 10 + 0.3 * 0)
    assert x_next.item() == pytest.approx(0.7 * 10 + 0.3 * 20)
    np.testing.assert_allclose(y_prev, [0.7 * 1 + 0.3 * 0, 0.0])
    np.testing.assert_allclose(y_next, [1.0, 0.7 * 0 + 0.3 * 1])


def test_training_edge_rule_two_betas_with_the_one_neighbour() -> None:
    first = interpolate_training(TOY, TOY_LABELS, 0, (0.7, 0.9))
    assert [x.item() for x, _ in first] == pytest.approx([0.3 * 10, 0.1 * 10])
    np.testing.assert_allclose([y for _, y in first], [[0.3, 0.0], [0.1, 0.0]])
    last = interpolate_training(TOY, TOY_LABELS, 2, (0.7, 0.9))
    assert [x.item() for x, _ in last] == pytest.approx([0.7 * 20 + 0.3 * 10, 0.9 * 20 + 0.1 * 10])
    np.testing.assert_allclose([y for _, y in last], [[1.0, 0.7], [1.0, 0.9]])
    with pytest.raises(ValueError, match="two different b"):
        interpolate_training(TOY, TOY_LABELS, 0, (0.7, 0.7))
    assert interpolate_training(TOY[:1], TOY_LABELS[:1], 0, (0.7, 0.9)) == []


def test_training_pairs_and_volume_builder() -> None:
    assert training_pairs(4) == [
        (0, 1, 0),
        (0, 1, 1),
        (1, 0, 0),
        (1, 2, 0),
        (2, 1, 0),
        (2, 3, 0),
        (3, 2, 0),
        (3, 2, 1),
    ]
    assert training_pairs(1) == []
    images, labels = interpolate_training_volume(
        torch.from_numpy(TOY), torch.from_numpy(TOY_LABELS), (0.6, 0.8)
    )
    assert images.shape == (6, 1, 1) and labels.shape == (6, 2)
    torch.testing.assert_close(
        images.ravel(),
        torch.tensor([4.0, 2.0, 6.0, 14.0, 16.0, 18.0], dtype=torch.float64),
    )
    with pytest.raises(ValueError, match="label rows"):
        interpolate_training_volume(TOY, TOY_LABELS[:2], (0.6, 0.8))


def test_sample_beta_range_and_pair() -> None:
    rng = np.random.default_rng(42)
    draws = np.array([sample_beta(rng) for _ in range(2000)])
    assert (draws > 0.5).all() and (draws < 1.0).all()
    assert draws.min() < 0.52 and draws.max() > 0.98
    b1, b2 = sample_betas(np.random.default_rng(7))
    assert b1 != b2 and (b1, b2) == sample_betas(np.random.default_rng(7))
