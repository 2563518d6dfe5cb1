"""ImageNet weights (``ml.weights``): local folder with checksums, library caches, offline, fetch/verify.

The libraries' downloads are monkeypatched (``tests/ml/conftest.py`` also turns downloads off and points
``TORCH_HOME`` at a temporary folder): no test reaches the network or needs real weights.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from ml.bundle import BundleError, BundleMeta, file_sha256, load_bundle, save_bundle
from ml.cli.train import _parser
from ml.cli.weights import main
from ml.data import CaseData
from ml.models import ENV_WEIGHTS_DIR, PretrainedWeightsError, build_architecture, build_model_with_source
from ml.phantom import PhantomConfig, generate_case
from ml.recipes import RECIPES
from ml.train import train
from ml.weights import (
    ENV_DOWNLOAD,
    LIBRARY_WEIGHTS,
    ORIGINS_FILE,
    SUMS_FILE,
    _Unavailable,
    fetch,
    library_state_dict,
    verify,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

R18_CACHE = "resnet18-f37072fd.pth"  # torchvision's file name of ResNet18_Weights.IMAGENET1K_V1


@pytest.fixture(autouse=True)
def _no_weights_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_WEIGHTS_DIR, raising=False)


@pytest.fixture(scope="module")
def r18_state() -> dict[str, torch.Tensor]:
    """A stand-in for torchvision's ImageNet ResNet-18: its keys and shapes (1000-class head), random."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    return resnet18(weights=None).state_dict()


def _save_tiny(folder: Path, sums: bool = True) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    state = build_architecture("tiny").state_dict()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.pth"
    torch.save(state, path)
    if sums:
        (folder / SUMS_FILE).write_text(f"{file_sha256(path)}  tiny.pth\n", encoding="utf-8")
    return path, state


def _patch_torchvision(monkeypatch: pytest.MonkeyPatch, result: object) -> list[str]:
    """Replace torchvision's download-and-load (``Weights.get_state_dict``'s call); returns the URLs asked."""
    import torchvision.models._api as api

    asked: list[str] = []

    def fake(url: str, *args: object, **kwargs: object) -> object:
        asked.append(url)
        if isinstance(result, BaseException):
            raise result
        return result

    monkeypatch.setattr(api, "load_state_dict_from_url", fake)
    return asked


def _models_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ml.models" and r.levelno >= logging.WARNING]


def test_offline_download_logs_one_line_and_starts_at_random(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_DOWNLOAD, "1")
    asked = _patch_torchvision(monkeypatch, URLError("[Errno -2] Name or service not known"))
    torch.manual_seed(1)
    with caplog.at_level(logging.INFO, logger="ml.models"):
        model, source = build_model_with_source("resnet18")
    assert source is None and len(asked) == 1 and asked[0].endswith(R18_CACHE)
    (record,) = _models_records(caplog)
    message = record.getMessage()
    assert message.startswith("no ImageNet weights for resnet18")
    assert "ResNet18_Weights.IMAGENET1K_V1" in message and "URLError" in message
    assert "random initialisation" in message and "python -m ml.weights fetch" in message
    torch.manual_seed(1)
    torch.testing.assert_close(model.state_dict(), build_architecture("resnet18").state_dict())

    # Where pretrained weights are required the same situation is an error saying how to proceed.
    with pytest.raises(PretrainedWeightsError, match="resnet18 must start from ImageNet weights") as info:
        build_model_with_source("resnet18", require_pretrained=True)
    assert "URLError" in str(info.value) and "--allow-random-init" in str(info.value)


def test_downloads_off_never_call_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _patch_torchvision(monkeypatch, AssertionError("no download with downloads off"))
    with pytest.raises(_Unavailable, match=f"{ENV_DOWNLOAD}=0"):
        library_state_dict(LIBRARY_WEIGHTS["resnet50"])
    assert asked == []


def test_paper_recipe_requires_pretrained_unless_allowed() -> None:
    paper = RECIPES["paper"]
    assert paper.require_pretrained and paper.needs_pretrained
    assert not paper.with_(allow_random_init=True).needs_pretrained
    assert not RECIPES["lite"].needs_pretrained and not RECIPES["lewicki"].needs_pretrained
    with pytest.raises(ValueError, match="allow_random_init must be true or false"):
        paper.with_(allow_random_init="yes")
    args = _parser().parse_args(["--recipe", "paper", "--data", "d", "--out", "o", "--allow-random-init"])
    assert args.allow_random_init
    assert not _parser().parse_args(["--data", "d", "--out", "o"]).allow_random_init


def test_local_file_loads_with_its_checksum_and_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, state = _save_tiny(tmp_path)
    (tmp_path / ORIGINS_FILE).write_text(json.dumps({"tiny.pth": {"weights": "x y"}}), encoding="utf-8")
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    model, source = build_model_with_source("tiny", require_pretrained=True)
    torch.testing.assert_close(model.features.block3[0].weight, state["features.block3.0.weight"])
    assert source == {
        "kind": "file",
        "source": str(path.resolve()),
        "weights": "x y",
        "file": str(path.resolve()),
        "sha256": file_sha256(path),
    }


def test_checksum_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _save_tiny(tmp_path)
    (tmp_path / SUMS_FILE).write_text(f"{'0' * 64}  tiny.pth\n", encoding="utf-8")
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    with pytest.raises(PretrainedWeightsError) as info:
        build_model_with_source("tiny")
    message = str(info.value)
    assert str(path) in message and SUMS_FILE in message and "fetch it again" in message


def test_wrong_arch_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, r18_state) -> None:
    path = tmp_path / "tiny.pth"
    torch.save(r18_state, path)  # a ResNet-18 file where the tiny net's is expected
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    with pytest.raises(PretrainedWeightsError, match=re.escape(f"{path} is not a tiny checkpoint")):
        build_model_with_source("tiny")


def test_truncated_file_is_refused_with_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _save_tiny(tmp_path, sums=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path))
    with pytest.raises(PretrainedWeightsError, match="truncated or corrupt") as info:
        build_model_with_source("tiny")
    assert str(path) in str(info.value) and "fetch it again" in str(info.value)


def test_cached_library_file_loads_offline_and_a_truncated_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, r18_state
) -> None:
    import torch.hub

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached file must be read without a download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    cache = Path(torch.hub.get_dir()) / "checkpoints" / R18_CACHE
    assert str(cache).startswith(str(tmp_path))  # TORCH_HOME from the conftest
    cache.parent.mkdir(parents=True)
    torch.save(r18_state, cache)
    model, source = build_model_with_source("resnet18", require_pretrained=True)
    torch.testing.assert_close(model.layer4[1].conv2.weight, r18_state["layer4.1.conv2.weight"])
    assert model.fc.out_features == 6
    assert source == {
        "kind": "torchvision",
        "source": "torchvision ResNet18_Weights.IMAGENET1K_V1",
        "weights": "torchvision ResNet18_Weights.IMAGENET1K_V1",
        "file": str(cache),
        "sha256": file_sha256(cache),
    }

    data = cache.read_bytes()
    cache.write_bytes(data[: len(data) // 3])
    with pytest.raises(PretrainedWeightsError, match="corrupt or truncated: delete it") as info:
        build_model_with_source("resnet18")
    assert str(cache) in str(info.value)


def test_timm_weights_offline_and_corrupt_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import timm.models._builder as builder
    from huggingface_hub.errors import LocalEntryNotFoundError

    import ml.weights

    spec = LIBRARY_WEIGHTS["inception_resnet_v2"]
    assert (spec.library, spec.name) == ("timm", "inception_resnet_v2.tf_in1k")

    def offline(*args: object, **kwargs: object) -> None:
        raise LocalEntryNotFoundError("cannot reach huggingface.co and the file is not cached")

    monkeypatch.setattr(builder, "load_state_dict_from_hf", offline)
    monkeypatch.setattr(ml.weights, "_timm_cache_file", lambda name: None)
    with pytest.raises(_Unavailable, match=r"timm inception_resnet_v2\.tf_in1k could not be downloaded"):
        library_state_dict(spec, download=True)

    broken = tmp_path / "model.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")  # a header cut short
    monkeypatch.setattr(ml.weights, "_timm_cache_file", lambda name: broken)
    with pytest.raises(PretrainedWeightsError, match="corrupt or truncated") as info:
        library_state_dict(spec)
    assert str(broken) in str(info.value)


def test_fetch_writes_files_and_sums_and_verify_catches_a_flipped_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, r18_state, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = _patch_torchvision(monkeypatch, r18_state)  # the "download" returns the stand-in weights
    dest = tmp_path / "weights"
    assert main(["fetch", "--dest", str(dest), "--arch", "resnet18"]) == 0
    assert asked and asked[0].endswith(R18_CACHE)
    path = dest / "resnet18.pth"
    sums = (dest / SUMS_FILE).read_text(encoding="utf-8")
    assert sums == f"{file_sha256(path)}  resnet18.pth\n"
    origins = json.loads((dest / ORIGINS_FILE).read_text(encoding="utf-8"))
    assert origins["resnet18.pth"]["weights"] == "torchvision ResNet18_Weights.IMAGENET1K_V1"
    assert f"{ENV_WEIGHTS_DIR}={dest.resolve()}" in capsys.readouterr().out
    saved = torch.load(path, weights_only=True)
    torch.testing.assert_close(saved, r18_state)

    assert verify(dest) == [] and main(["verify", str(dest)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["verify", str(dest), "--arch", "vgg16"]) == 1  # asked for, not fetched

    # The fetched folder is what build_model reads; the record names the library weights.
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(dest))
    _, source = build_model_with_source("resnet18")
    assert source["kind"] == "file" and source["weights"] == "torchvision ResNet18_Weights.IMAGENET1K_V1"

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    problems = verify(dest)
    assert len(problems) == 1 and "resnet18.pth" in problems[0] and "sha256" in problems[0]
    assert main(["verify", str(dest)]) == 1
    with pytest.raises(PretrainedWeightsError, match="differs from"):
        build_model_with_source("resnet18")

    # A library answer that does not fit the arch is not written.
    _patch_torchvision(monkeypatch, build_architecture("tiny").state_dict())
    with pytest.raises(PretrainedWeightsError, match="is not a resnet18 checkpoint"):
        fetch(tmp_path / "other", ["resnet18"])
    assert not (tmp_path / "other" / "resnet18.pth").exists()


def test_training_records_the_start_in_result_checkpoint_and_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = PhantomConfig(seed=3, size=64, slices_min=4, slices_max=4, negative_fraction=0.3)
    cases = []
    for i in range(4):
        c = generate_case(cfg, i)
        cases.append(CaseData(c.case_id, c.patient.patient_id, c.hu, c.labels, c.denoised))
    positive = next(c for c in cases if c.is_positive)
    negative = next(c for c in cases if not c.is_positive)
    val, train_cases = [positive, negative], [c for c in cases if c not in (positive, negative)]
    recipe = RECIPES["lite"].with_(
        input_size=64, batch_size=8, max_epochs=1, max_steps_per_epoch=1, require_pretrained=True
    )

    # Required and missing: the run stops before its first step, naming the net.
    with pytest.raises(PretrainedWeightsError, match="tiny must start from ImageNet weights"):
        train(recipe, train_cases, val, tmp_path / "none", device="cpu")

    path, _ = _save_tiny(tmp_path / "imagenet")
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path / "imagenet"))
    result = train(recipe, train_cases, val, tmp_path / "run", device="cpu")
    record = result.pretrained["tiny"]
    assert record["kind"] == "file" and record["sha256"] == file_sha256(path)
    assert result.metrics["per_arch"]["tiny"]["pretrained"] == record
    bundle = load_bundle(result.bundle_dir)
    assert bundle.pretrained == {"tiny": record} == bundle.manifest["pretrained"]
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "tiny.pt", weights_only=True)
    assert ckpt["state"]["pretrained"] == record

    # Allowed random start: recorded as null.
    monkeypatch.delenv(ENV_WEIGHTS_DIR)
    result = train(recipe.with_(allow_random_init=True), train_cases, val, tmp_path / "random", device="cpu")
    assert result.pretrained == {"tiny": None}
    assert load_bundle(result.bundle_dir).manifest["pretrained"] == {"tiny": None}


def test_bundle_pretrained_entries_must_name_its_archs(tmp_path: Path) -> None:
    model = build_architecture("tiny")
    with pytest.raises(BundleError, match="archs not in the bundle"):
        save_bundle(tmp_path, {"tiny": model}, BundleMeta(pretrained={"vgg16": None}))
    save_bundle(tmp_path, {"tiny": model}, BundleMeta())
    assert load_bundle(tmp_path).pretrained == {}  # not recorded
