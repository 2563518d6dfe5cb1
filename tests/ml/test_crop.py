"""Cropping a case to its head (ml.crop) and the learning aids of the lite recipe: the smooth-max head,
balanced batches, eq. 3 from rates, the one-cycle schedule and the image cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.crop import Box, crop_volume, head_box, paste_map
from ml.data import CaseData
from ml.labels import LABELS, SUBTYPES
from ml.losses import class_weights_from_counts, class_weights_from_rates
from ml.models import TinyCNN, log_mean_exp_pool
from ml.recipes import RECIPES, STEPS, Recipe
from ml.slices import SliceBatchSampler, SliceDataset, SliceKey


def _head(z: int = 4, size: int = 64, centre: tuple[int, int] = (30, 34), radius: int = 18) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2
    hu = np.full((z, size, size), -1000, np.int16)
    hu[:, inside] = 30
    return hu


def test_head_box_is_a_square_around_the_head_with_a_margin() -> None:
    hu = _head()
    hu[:, 60:, :] = 200  # a table: a separate, smaller region below the head
    box = head_box(hu)
    assert box.shape[0] == box.shape[1]
    rows, cols = np.flatnonzero((hu[0] > 0).any(1)), np.flatnonzero((hu[0] == 30).any(0))
    assert box.y0 <= 30 - 18 and box.y1 >= 30 + 18 + 1 and box.x0 <= 34 - 18 and box.x1 >= 34 + 18 + 1
    assert box.y1 < 60, "the table is left out"
    assert box.shape[0] <= int(np.ceil(37 * 1.08)) + 1
    assert rows.size and cols.size


def test_head_box_without_a_head_is_the_whole_slice_and_bad_shapes_are_refused() -> None:
    assert head_box(np.full((2, 32, 40), -1000, np.int16)) == Box(0, 32, 0, 40)
    with pytest.raises(ValueError, match="Z >= 1"):
        head_box(np.zeros((32, 32)))


def test_crop_pads_with_air_outside_the_slice_and_paste_inverts_it() -> None:
    hu = _head(centre=(10, 12), radius=9)
    box = Box(-5, 27, -3, 29)
    cropped = crop_volume(hu, box)
    assert cropped.shape == (4, 32, 32) and cropped.dtype == hu.dtype
    assert (cropped[:, :5, :] == -1000).all()
    np.testing.assert_array_equal(cropped[:, 5:, 3:], hu[:, :27, :29])
    m = np.random.default_rng(0).random(box.shape).astype(np.float32)
    full = paste_map(m, box, (64, 64))
    np.testing.assert_array_equal(full[:27, :29], m[5:, 3:])
    assert full[27:, :].sum() == 0 and full[:, 29:].sum() == 0
    assert crop_volume(hu, None) is hu or np.shares_memory(crop_volume(hu, None), hu)
    with pytest.raises(ValueError, match=r"map must be \(32, 32\)"):
        paste_map(np.zeros((8, 8)), box, (64, 64))


def test_log_mean_exp_pool_lies_between_mean_and_max_and_tends_to_both() -> None:
    maps = torch.randn(3, 2, 5, 7)
    mean, top = maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))
    pooled = log_mean_exp_pool(maps, 5.0)
    assert (pooled >= mean - 1e-6).all() and (pooled <= top + 1e-6).all()
    small = log_mean_exp_pool(maps.double(), 1e-3)  # ~ mean + r var / 2
    torch.testing.assert_close(small, mean.double(), atol=2e-3, rtol=0)
    assert (log_mean_exp_pool(maps, 1e3) - top).abs().max() < 0.01
    with pytest.raises(ValueError, match="sharpness"):
        log_mean_exp_pool(maps, 0.0)


def _class_maps(net: TinyCNN, features: torch.Tensor) -> torch.Tensor:
    """The FC applied at every position of block 4's features: one map per output."""
    return torch.einsum("nchw,kc->nkhw", features, net.fc.weight) + net.fc.bias[None, :, None, None]


def test_tiny_avg_pooling_is_gap_then_fc_and_lse_reads_the_class_maps() -> None:
    torch.manual_seed(0)
    net = TinyCNN(6, pooling="avg").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = net.features(x)
        torch.testing.assert_close(net(x), net.fc(features.mean(dim=(2, 3))))
        net.pooling = "lse"
        maps = _class_maps(net, features)
        torch.testing.assert_close(net(x), log_mean_exp_pool(maps, net.sharpness))
    assert features.shape[-1] == 4, "block 4 is 1/16 of the input"
    with pytest.raises(ValueError, match="pooling"):
        TinyCNN(pooling="max")
    with pytest.raises(ValueError, match="map_stride"):
        TinyCNN(map_stride=4)
    with pytest.raises(ValueError, match="sharpness"):
        TinyCNN(sharpness=0)


def test_tiny_map_stride_8_keeps_block4_at_one_eighth_and_sharpness_reaches_the_pooling() -> None:
    torch.manual_seed(0)
    net = TinyCNN(6, map_stride=8, sharpness=2.0).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = net.features(x)
        maps = _class_maps(net, features)
        torch.testing.assert_close(net(x), log_mean_exp_pool(maps, 2.0))
    assert features.shape[-1] == 8, "without the pool before block 4 the maps are 1/8 of the input"
    assert not torch.allclose(log_mean_exp_pool(maps, 2.0), log_mean_exp_pool(maps, 5.0))


def _cases(n: int = 6, z: int = 6) -> list[CaseData]:
    out = []
    for i in range(n):
        labels = np.zeros((z, len(LABELS)), np.float32)
        if i < 2:  # two SDH cases (one positive slice each) and one EDH case
            labels[2, [LABELS.index("SDH"), LABELS.index("ANY")]] = 1
        if i == 2:
            labels[3, [LABELS.index("EDH"), LABELS.index("ANY")]] = 1
        out.append(CaseData(f"c{i}", f"p{i}", _head(z, 48, (24, 24), 14), labels))
    return out


def test_balanced_batches_show_each_subtype_alike_and_label_rates_say_so() -> None:
    data = SliceDataset(_cases(), STEPS["M2"], windowing="paper", size=32, train=True)
    sampler = SliceBatchSampler(data, batch_size=20, positive_fraction=0.5)
    labels = data.item_labels()
    drawn = []
    for epoch in range(300):  # an epoch has as many images as the dataset (2 batches here)
        sampler.set_epoch(epoch)
        drawn += [labels[[k.item for k in batch]] for batch in sampler]
    seen = np.concatenate(drawn).astype(float)
    sdh, edh, any_ = LABELS.index("SDH"), LABELS.index("EDH"), LABELS.index("ANY")
    assert sampler.n_positive == 10
    assert seen[:, sdh].mean() == pytest.approx(seen[:, edh].mean(), abs=0.03)
    assert seen[:, any_].mean() == pytest.approx(0.5 + 0.5 * labels[:, any_].mean(), abs=0.03)
    np.testing.assert_allclose(sampler.label_rates(), seen.mean(axis=0), atol=0.03)
    shuffle = SliceBatchSampler(data, batch_size=20)
    np.testing.assert_allclose(shuffle.label_rates(), labels.mean(axis=0))
    with pytest.raises(ValueError, match="positive_fraction"):
        SliceBatchSampler(data, batch_size=4, positive_fraction=0.0)


def test_eq3_from_rates_equals_eq3_from_counts_and_refuses_degenerate_rates() -> None:
    y = np.array([[1, 0], [0, 0], [0, 1], [1, 0]])
    a = class_weights_from_counts(y, names=["a", "b"])
    b = class_weights_from_rates(y.mean(axis=0))
    np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        class_weights_from_rates([0.0, 0.5])


def test_cached_images_equal_the_direct_path_up_to_float16() -> None:
    cases = _cases(3)
    kwargs = {"windowing": "paper", "size": 32, "train": True, "crop_to_head": True}
    direct = SliceDataset(cases, STEPS["M4"], **kwargs)
    cached = SliceDataset(cases, STEPS["M4"], cache_images=True, **kwargs)
    for item in (0, 3, len(direct) - 1):
        key = SliceKey(item, (0.7, 0.6), seed=11 + item)
        x0, y0 = direct[key]
        x1, y1 = cached[key]
        torch.testing.assert_close(x1, x0, atol=0.03, rtol=0)
        torch.testing.assert_close(y1, y0)


def test_recipe_checks_the_new_switches_and_lite_uses_them() -> None:
    lite = RECIPES["lite"]
    assert (lite.sampling, lite.schedule, lite.crop_to_head, lite.archs) == (
        "balanced",
        "onecycle",
        True,
        ("tiny",),
    )
    assert RECIPES["paper"].sampling == "shuffle" and RECIPES["paper"].schedule == "plateau"
    assert not RECIPES["paper"].crop_to_head
    for bad in ({"sampling": "x"}, {"schedule": "x"}, {"positive_fraction": 0}, {"crop_to_head": 1}):
        with pytest.raises(ValueError):
            lite.with_(**bad)
    with pytest.raises(ValueError, match="onecycle"):
        Recipe(name="x", archs=("tiny",), schedule="onecycle")
    assert Recipe.from_dict(lite.to_dict()) == lite
    assert len(SUBTYPES) == 5
