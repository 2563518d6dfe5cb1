from __future__ import annotations

import logging
import pickle

import pytest
import torch

from ml.labels import LABELS, SUBTYPES
from ml.models import (
    ARCHS,
    ENV_WEIGHTS_DIR,
    HEADS,
    INPUT_SIZE,
    PAPER_ARCHS,
    TARGET_LAYERS,
    PretrainedWeightsError,
    build_architecture,
    build_model,
    get_module,
    load_backbone_weights,
    predict_proba,
)


@pytest.fixture(autouse=True)
def _no_weights_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_WEIGHTS_DIR, raising=False)


def test_tables_cover_every_arch() -> None:
    assert set(INPUT_SIZE) == set(TARGET_LAYERS) == set(HEADS) == set(ARCHS)
    assert INPUT_SIZE["inception_v3"] == INPUT_SIZE["inception_resnet_v2"] == 299
    assert INPUT_SIZE["vgg16"] == INPUT_SIZE["resnet50"] == INPUT_SIZE["lewicki"] == 224


def test_big_archs_forward_at_native_size() -> None:
    # One real forward per big net (batch 1, native size): logits for the 6 labels, feature maps at the
    # Grad-CAM target layer.
    for arch in (*PAPER_ARCHS, "lewicki"):
        model = build_architecture(arch, len(LABELS)).eval()
        size = INPUT_SIZE[arch]
        seen: list[torch.Size] = []
        hook = get_module(model, TARGET_LAYERS[arch]).register_forward_hook(
            lambda _m, _i, out: seen.append(out.shape)  # noqa: B023
        )
        with torch.inference_mode():
            logits = model(torch.randn(1, 3, size, size))
        hook.remove()
        assert logits.shape == (1, 6), arch
        assert torch.isfinite(logits).all(), arch
        assert len(seen) == 1 and len(seen[0]) == 4 and seen[0][2] >= 7, (arch, seen)


def test_every_arch_m1_and_m2_shapes_on_meta_device() -> None:
    # Shapes only (no arithmetic): every arch at its native size, batch 2, 5 outputs (M1) and 6 (M2+).
    with torch.device("meta"):
        for arch in ARCHS:
            size = INPUT_SIZE[arch]
            for n in (len(SUBTYPES), len(LABELS)):
                assert build_architecture(arch, n)(torch.empty(2, 3, size, size)).shape == (2, n), arch


def test_heads_follow_the_papers() -> None:
    with torch.device("meta"):
        vgg = build_architecture("vgg16")
        lewicki = build_architecture("lewicki")
        inception = build_architecture("inception_v3")
    assert isinstance(vgg.avgpool, torch.nn.AdaptiveAvgPool2d) and vgg.avgpool.output_size == 1
    assert isinstance(vgg.classifier, torch.nn.Linear) and vgg.classifier.in_features == 512
    assert [type(m).__name__ for m in lewicki.fc] == ["Linear", "ReLU", "Linear"]
    assert (lewicki.fc[0].in_features, lewicki.fc[0].out_features, lewicki.fc[2].out_features) == (
        2048,
        256,
        6,
    )
    assert inception.aux_logits is False and inception.transform_input is False


def test_backbones_keep_the_imagenet_layout() -> None:
    # Every non-head tensor must exist, with the same shape, in the ImageNet models' state_dicts, so that
    # checkpoints of torchvision and timm load.
    import timm
    from torchvision.models import inception_v3, resnet50, vgg16

    with torch.device("meta"):
        references = {
            "vgg16": vgg16(),
            "resnet50": resnet50(),
            "lewicki": resnet50(),
            "inception_v3": inception_v3(aux_logits=True, init_weights=False),
            "inception_resnet_v2": timm.create_model("inception_resnet_v2", pretrained=False),
        }
        for arch, reference in references.items():
            ref = reference.state_dict()
            ours = build_architecture(arch).state_dict()
            backbone = {k: v for k, v in ours.items() if not k.startswith(HEADS[arch] + ".")}
            assert backbone and all(k in ref and ref[k].shape == v.shape for k, v in backbone.items()), arch


def test_target_layers_resolve() -> None:
    with torch.device("meta"):
        for arch in ARCHS:
            assert isinstance(get_module(build_architecture(arch), TARGET_LAYERS[arch]), torch.nn.Module)
    with pytest.raises(KeyError, match="layer9"):
        get_module(build_architecture("tiny"), "layer9")


@pytest.mark.parametrize(("arch", "n_outputs"), [("tiny", 6), ("tiny", 5), ("resnet18", 6)])
def test_small_archs_train_step(arch: str, n_outputs: int) -> None:
    torch.manual_seed(0)
    model = build_architecture(arch, n_outputs).train()
    logits = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, n_outputs)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("arch", ["tiny", "vgg16"])
def test_backward_hook_on_target_layer(arch: str) -> None:
    # Grad-CAM (eq. 5) needs dz^c/dA_L at the target layer; in-place ops there would break full hooks.
    model = build_architecture(arch).eval()
    grads: list[torch.Tensor] = []
    get_module(model, TARGET_LAYERS[arch]).register_full_backward_hook(
        lambda _m, _gi, go: grads.append(go[0])
    )
    model(torch.randn(1, 3, 64, 64))[0, 2].backward()
    assert len(grads) == 1 and grads[0].ndim == 4


def test_predict_proba_is_sigmoid_and_restores_mode() -> None:
    torch.manual_seed(0)
    model = build_architecture("tiny").train()
    x = torch.randn(2, 3, 32, 32)
    p = predict_proba(model, x)
    assert model.training
    model.eval()
    with torch.no_grad():
        expected = torch.sigmoid(model(x))
    torch.testing.assert_close(p, expected)
    assert ((p > 0) & (p < 1)).all()


def test_no_weights_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ml.models"):
        build_model("tiny")
    records = [r for r in caplog.records if r.name == "ml.models"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "no ImageNet weights for tiny" in message
    assert ENV_WEIGHTS_DIR in message and "random initialisation" in message


def test_weights_round_trip_fills_backbone_not_head(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    source = build_architecture("tiny")
    path = tmp_path / "tiny.pth"
    torch.save(source.state_dict(), path)
    torch.manual_seed(1)
    with caplog.at_level(logging.WARNING, logger="ml.models"):
        loaded = build_model("tiny", weights=path)
    assert not caplog.records
    torch.testing.assert_close(loaded.features.block1[0].weight, source.features.block1[0].weight)
    torch.testing.assert_close(loaded.features.block4[2].running_var, source.features.block4[2].running_var)
    assert not torch.equal(loaded.fc.weight, source.fc.weight)


def test_torchvision_imagenet_checkpoint_loads_into_new_head(tmp_path) -> None:
    from torchvision.models import resnet18

    torch.manual_seed(0)
    imagenet = resnet18(weights=None)  # 1000-class head, like the ImageNet file
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": imagenet.state_dict()}, path)
    model = build_architecture("resnet18")
    left = load_backbone_weights(model, "resnet18", path)
    assert left == ["fc.weight", "fc.bias"]
    torch.testing.assert_close(model.layer4[1].conv2.weight, imagenet.layer4[1].conv2.weight)
    assert model.fc.weight.shape == (6, 512)


def test_weights_dir_from_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    source = build_architecture("tiny")
    torch.save(source.state_dict(), tmp_path / "tiny.pth")
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    torch.manual_seed(1)
    loaded = build_model("tiny", n_outputs=5)
    torch.testing.assert_close(loaded.features.block2[0].weight, source.features.block2[0].weight)
    assert loaded.fc.out_features == 5


def test_wrong_or_missing_checkpoint(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        build_model("tiny", weights=tmp_path / "absent.pth")
    path = tmp_path / "resnet18.pth"
    torch.save(build_architecture("resnet18").state_dict(), path)
    with pytest.raises(ValueError, match="not a tiny checkpoint"):
        build_model("tiny", weights=path)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled",))


def test_weights_file_with_objects_is_refused(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.pth"
    path.write_bytes(pickle.dumps({"features.block1.0.weight": _Payload()}, protocol=2))
    with pytest.raises(PretrainedWeightsError, match=r"tiny\.pth holds pickled Python objects"):
        build_model("tiny", weights=path)
    assert "unpickled" not in capsys.readouterr().out


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="unknown arch 'alexnet'"):
        build_model("alexnet")
    with pytest.raises(ValueError, match="n_outputs"):
        build_architecture("tiny", 0)


def test_lewicki_finds_its_resnet50_backbone_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ml.models import _imagenet_file

    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    assert _imagenet_file("lewicki") is None
    (tmp_path / "resnet50.pth").touch()
    assert _imagenet_file("lewicki") == tmp_path / "resnet50.pth"
    (tmp_path / "lewicki.pth").touch()
    assert _imagenet_file("lewicki") == tmp_path / "lewicki.pth"
    assert _imagenet_file("vgg16") is None
