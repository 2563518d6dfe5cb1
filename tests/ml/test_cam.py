"""Grad-CAM (eqs. 5 and 6), its post-processing and the localisation check (ml.cam)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ml.cam import (
    ATLAS_BLOCKS,
    area_percent,
    capture_activations,
    class_maps,
    feature_maps,
    gradcam,
    head_mask,
    localisation_overlap,
    normalise,
    points_in_segmentation,
    segment,
    upsample,
)
from ml.models import ARCHS, INPUT_SIZE, TARGET_LAYERS, build_architecture, get_module
from ml.phantom import PhantomConfig, generate_case

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 64


def _net(arch: str, seed: int = 0) -> nn.Module:
    """A random net with non-trivial BatchNorm statistics, in eval mode like a trained one."""
    torch.manual_seed(seed)
    model = build_architecture(arch, 6)
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, SIZE, SIZE))
    return model.eval()


def _images(n: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def _reference_cam(model: nn.Module, layer: str, images: torch.Tensor, class_index: int) -> np.ndarray:
    """pytorch-grad-cam's raw Grad-CAM: its hooks and weights, ReLU, before its normalisation and resize."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    target_layer = get_module(model, layer)
    cam = GradCAM(model=model, target_layers=[target_layer])
    try:
        targets = [ClassifierOutputTarget(class_index)] * len(images)
        outputs = cam.activations_and_grads(images)
        model.zero_grad()
        sum(t(o) for t, o in zip(targets, outputs, strict=True)).backward()
        activations = cam.activations_and_grads.activations[0].numpy()
        gradients = cam.activations_and_grads.gradients[0].numpy()
        raw = cam.get_cam_image(images, target_layer, targets, activations, gradients)
    finally:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)
    return np.maximum(raw, 0)


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.mark.parametrize("arch", ["tiny", "resnet18"])
def test_gradcam_equals_pytorch_grad_cam(arch: str) -> None:
    model, images = _net(arch), _images()
    layer = TARGET_LAYERS[arch]
    ours = gradcam(model, images, layer, class_index=2)
    reference = _reference_cam(model, layer, images, class_index=2)
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    assert reference.max() > 0
    assert np.corrcoef(ours.ravel(), reference.ravel())[0, 1] >= 0.999
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6 * reference.max())


def test_gradcam_native_resolution_mode_and_hooks_restored() -> None:
    model = _net("tiny")
    model.train()
    cam = gradcam(model, _images(3), TARGET_LAYERS["tiny"], class_index=5)
    assert cam.shape == (3, SIZE // 16, SIZE // 16)  # tiny: 1/16 of the input
    assert (cam >= 0).all()
    assert model.training and _hooks(model) == 0
    with pytest.raises(ValueError, match="class_index 6"):
        gradcam(model, _images(), TARGET_LAYERS["tiny"], class_index=6)
    with pytest.raises(KeyError, match="no submodule"):
        gradcam(model, _images(), "features.block9", class_index=0)
    assert model.training and _hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())


def test_gradcam_works_under_inference_mode() -> None:
    model = _net("tiny")
    with torch.inference_mode():
        images = _images()
        cam = gradcam(model, images, TARGET_LAYERS["tiny"], class_index=1)
    np.testing.assert_array_equal(cam, gradcam(model, _images(), TARGET_LAYERS["tiny"], class_index=1))


def test_gradcam_per_image_is_independent_of_the_batch() -> None:
    model, images = _net("tiny"), _images(3)
    batch = gradcam(model, images, TARGET_LAYERS["tiny"], class_index=0)
    single = gradcam(model, images[1:2], TARGET_LAYERS["tiny"], class_index=0)
    np.testing.assert_allclose(batch[1], single[0], rtol=1e-4, atol=1e-7)


def test_feature_maps_shapes_and_selected_filters() -> None:
    model, images = _net("tiny"), _images()
    blocks = ATLAS_BLOCKS["tiny"]
    maps = feature_maps(model, images, blocks, class_index=3, filters={"features.block2": [5, 1]})
    assert list(maps) == list(blocks)
    assert maps["features.block1"].shape == (2, 16, SIZE // 4, SIZE // 4)  # stride-2 stem + max-pool
    assert maps["features.block2"].shape == (2, 2, SIZE // 8, SIZE // 8)
    assert maps["features.block4"].shape == (2, 128, SIZE // 16, SIZE // 16)  # max-pool before block 4
    np.testing.assert_array_equal(
        maps["features.block2"][:, 0], feature_maps(model, images, blocks, 3)["features.block2"][:, 5]
    )
    assert all((m >= 0).all() for m in maps.values())


def test_eq6_terms_sum_to_eq5() -> None:
    """ReLU of the sum over k of eq. 6's signed terms is eq. 5; eq. 6 is each term's ReLU."""
    model, images = _net("resnet18"), _images()
    layer = TARGET_LAYERS["resnet18"]
    signed = class_maps(model, images, 4, filters={layer: None}, relu=False).features[layer]
    eq5 = gradcam(model, images, layer, 4)
    np.testing.assert_allclose(np.maximum(signed.sum(axis=1), 0), eq5, rtol=1e-4, atol=1e-6 * eq5.max())
    eq6 = feature_maps(model, images, [layer], 4)[layer]
    np.testing.assert_allclose(eq6, np.maximum(signed, 0), rtol=1e-5, atol=1e-9)
    assert np.all(eq6.sum(axis=1) >= eq5 - 1e-6)  # sum of ReLUs >= ReLU of the sum


def test_class_maps_one_pass_gives_eq5_and_eq6() -> None:
    model, images = _net("tiny"), _images()
    layer = TARGET_LAYERS["tiny"]
    maps = class_maps(model, images, 2, layer, {"features.block1": [0, 3]})
    np.testing.assert_array_equal(maps.cam, gradcam(model, images, layer, 2))
    assert maps.logits.shape == (2, 6)
    assert set(maps.features) == {"features.block1"}


@pytest.mark.parametrize("arch", ARCHS)
def test_atlas_blocks_run_once_fine_to_coarse(arch: str) -> None:
    """Shapes only: the nets are built and run on the meta device (no memory, no arithmetic)."""
    with torch.device("meta"):
        model = build_architecture(arch, 6).eval()
        x = torch.empty(1, 3, INPUT_SIZE[arch], INPUT_SIZE[arch])
        with capture_activations(model, ATLAS_BLOCKS[arch]) as acts:
            model(x)
    sides = [acts[block].shape[-1] for block in ATLAS_BLOCKS[arch]]
    assert sides == sorted(sides, reverse=True) and all(acts[b].ndim == 4 for b in acts)
    assert ATLAS_BLOCKS[arch][-1] == TARGET_LAYERS[arch]


# ---------------------------------------------------------------------------------------- post-processing


def test_upsample_bilinear_to_slice_shape() -> None:
    coarse = np.arange(4, dtype=np.float32).reshape(2, 2)
    fine = upsample(coarse, (8, 6))
    assert fine.shape == (8, 6) and fine.dtype == np.float32
    assert fine.min() >= 0 and fine.max() <= 3
    np.testing.assert_allclose(upsample(np.full((3, 2, 2), 7.0), (5, 5)), 7.0)
    assert upsample(np.ones((3, 4, 4)), (4, 4)).shape == (3, 4, 4)


def test_normalise_and_segment_at_20_percent() -> None:
    m = np.array([[0.0, 1.0], [2.0, 10.0]], dtype=np.float32)
    unit = normalise(m)
    assert unit.max() == 1.0 and unit[0, 1] == pytest.approx(0.1)
    assert not normalise(np.zeros((3, 3))).any()
    np.testing.assert_array_equal(segment(m), [[False, False], [False, True]])
    np.testing.assert_array_equal(segment(np.array([0.19, 0.2, 0.21, 1.0])), [False, False, True, True])
    assert not segment(np.zeros((4, 4))).any()
    np.testing.assert_array_equal(segment(unit), segment(m))


def test_head_mask_on_a_phantom_slice() -> None:
    case = generate_case(PhantomConfig(seed=4, size=64, slices_min=6, slices_max=6), 0)
    hu = case.hu[1].astype(np.float32)
    hu[2:4, 2:4] = 60  # a small dense object away from the head (a cable)
    mask = head_mask(hu)
    assert mask[32, 32] and not mask[0, 0] and not mask[2:4, 2:4].any()
    assert 0.1 < mask.mean() < 0.9
    from scipy import ndimage

    np.testing.assert_array_equal(ndimage.binary_fill_holes(mask), mask)
    for lesion in case.masks.values():
        assert all(not (lesion[k] & ~head_mask(case.hu[k])).any() for k in range(case.n_slices))
    assert not head_mask(np.full((8, 8), -1000)).any()


def test_area_percent() -> None:
    head = np.zeros((10, 10), bool)
    head[:, :5] = True
    seg = np.zeros((10, 10), bool)
    seg[:2, :] = True  # 10 pixels in the head, 10 outside
    assert area_percent(seg, head) == pytest.approx(20.0)
    assert np.isnan(area_percent(seg, np.zeros((10, 10), bool)))
    with pytest.raises(ValueError, match="differ in shape"):
        area_percent(seg, head[:5])


def test_points_in_segmentation_uses_x_column_y_row() -> None:
    mask = np.zeros((5, 6), bool)
    mask[1, 4] = True  # row 1, column 4
    np.testing.assert_array_equal(
        points_in_segmentation(mask, [(4, 1), (1, 4), (4.2, 0.8)]), [True, False, True]
    )
    assert points_in_segmentation(mask, np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ValueError, match="outside the 6 x 5"):
        points_in_segmentation(mask, [(6, 0)])


def _slices(sizes: list[int], inside: int) -> list[list[bool]]:
    flags = [k < inside for k in range(sum(sizes))]
    out, start = [], 0
    for n in sizes:
        out.append(flags[start : start + n])
        start += n
    return out


def test_localisation_overlap_reproduces_the_paper() -> None:
    few = _slices([2] * 28, inside=51)  # 56 points on slices with 1-2 points
    many = _slices([4] * 68 + [5], inside=209)  # 277 points on slices with >= 3
    result = localisation_overlap([*few, [], *many, [True]])
    few_ref = localisation_overlap(few)
    assert (few_ref.overall.inside, few_ref.overall.total) == (51, 56)
    overlap = localisation_overlap([*few, [], *many])
    assert (overlap.overall.inside, overlap.overall.total) == (260, 333)
    assert round(overlap.overall.percent, 1) == 78.1
    assert (overlap.few_points.inside, overlap.few_points.total) == (51, 56)
    assert round(overlap.few_points.percent, 1) == 91.1
    assert (overlap.many_points.inside, overlap.many_points.total) == (209, 277)
    assert round(overlap.many_points.percent, 1) == 75.5
    assert overlap.n_slices == 97
    assert result.few_points.total == 57 and result.n_slices == 98
    doc = overlap.to_dict()
    assert doc["overall"] == {"inside": 260, "total": 333, "percent": pytest.approx(78.078, abs=1e-3)}
    assert localisation_overlap([]).to_dict()["overall"]["percent"] is None
