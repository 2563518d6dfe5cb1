from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import torch

from ml.bundle import MANIFEST, BundleError, BundleMeta, load_bundle, save_bundle
from ml.labels import LABELS, RSNA_ORDER, SUBTYPES
from ml.models import build_architecture


def _tiny(n_outputs: int = 6) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_architecture("tiny", n_outputs)
    # Non-trivial BatchNorm statistics, so the round trip checks buffers as well as parameters.
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 32, 32))
    return model.eval()


def _meta(**kwargs: object) -> BundleMeta:
    base: dict[str, object] = {
        "recipe": {"name": "lite", "step": "M4"},
        "windowing": "paper",
        "thresholds": {"ANY": 0.31, "EDH": float("nan")},
    }
    return BundleMeta(**{**base, **kwargs})  # type: ignore[arg-type]


def _rewrite_manifest(folder: Path, **changes: object) -> None:
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_tiny_bundle_carries_its_pooling_sharpness(tmp_path: Path) -> None:
    """A net trained at another ``r`` than today's default loads with its own ``r`` (a state-dict buffer)."""
    from ml.models import LSE_SHARPNESS, TinyCNN

    torch.manual_seed(0)
    model = TinyCNN(6, sharpness=LSE_SHARPNESS + 2).eval()
    save_bundle(tmp_path, {"tiny": model}, _meta())
    loaded = load_bundle(tmp_path).models["tiny"]
    assert float(loaded.sharpness) == LSE_SHARPNESS + 2
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("weights_format", ["safetensors", "torch"])
def test_round_trip_predictions_equal(tmp_path: Path, weights_format: str) -> None:
    model = _tiny()
    save_bundle(tmp_path, {"tiny": model}, _meta(degree={"tiny": 3}), weights_format=weights_format)  # type: ignore[arg-type]
    bundle = load_bundle(tmp_path)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(bundle.models["tiny"](x), model(x), rtol=0, atol=0)
    assert not bundle.models["tiny"].training
    assert bundle.label_order == LABELS
    assert bundle.thresholds == {"IPH": None, "IVH": None, "SDH": None, "EDH": None, "SAH": None, "ANY": 0.31}
    assert bundle.input_size == {"tiny": 128} and bundle.degree == {"tiny": 3}
    assert bundle.windowing == "paper" and bundle.recipe == {"name": "lite", "step": "M4"}
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    name = "tiny.safetensors" if weights_format == "safetensors" else "tiny.pt"
    assert manifest["weights"] == {"tiny": name}
    assert manifest["sha256"][name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert manifest["format_version"] == 1 and manifest["created"].endswith("+00:00")


def test_m1_bundle_with_five_subtypes(tmp_path: Path) -> None:
    save_bundle(tmp_path, {"tiny": _tiny(5)}, _meta(label_order=SUBTYPES, thresholds={}))
    bundle = load_bundle(tmp_path)
    assert bundle.label_order == SUBTYPES and bundle.degree == {"tiny": 1}
    assert bundle.models["tiny"](torch.zeros(1, 3, 32, 32)).shape == (1, 5)


def test_tampered_file_is_named(tmp_path: Path) -> None:
    save_bundle(tmp_path, {"tiny": _tiny()}, _meta())
    weights = tmp_path / "tiny.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"tiny\.safetensors changed since the bundle was saved"):
        load_bundle(tmp_path)
    weights.unlink()
    with pytest.raises(BundleError, match=r"tiny\.safetensors is listed .* but missing"):
        load_bundle(tmp_path)


def test_wrong_label_order_refused(tmp_path: Path) -> None:
    save_bundle(tmp_path, {"tiny": _tiny()}, _meta())
    _rewrite_manifest(tmp_path, label_order=list(RSNA_ORDER))
    with pytest.raises(BundleError, match=r"position 0: bundle 'ANY', code 'IPH'"):
        load_bundle(tmp_path)
    _rewrite_manifest(tmp_path, label_order=list(LABELS[1:] + LABELS[:1]))
    with pytest.raises(BundleError, match="differs from the code's"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match="label order"):
        save_bundle(tmp_path / "other", {"tiny": _tiny()}, _meta(label_order=RSNA_ORDER, thresholds={}))


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled",))


@pytest.mark.parametrize("weights_format", ["safetensors", "torch"])
def test_pickled_objects_are_refused(
    tmp_path: Path, weights_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    save_bundle(tmp_path, {"tiny": _tiny()}, _meta(), weights_format=weights_format)  # type: ignore[arg-type]
    name = "tiny.safetensors" if weights_format == "safetensors" else "tiny.pt"
    weights = tmp_path / name
    weights.write_bytes(pickle.dumps({"fc.weight": _Payload()}, protocol=2))
    # An attacker able to write the file can rewrite the checksum too: loading must still refuse.
    _rewrite_manifest(tmp_path, sha256={name: hashlib.sha256(weights.read_bytes()).hexdigest()})
    with pytest.raises(BundleError, match=rf"{name} is not a"):
        load_bundle(tmp_path)
    assert "unpickled" not in capsys.readouterr().out


def test_manifest_names_must_be_plain_files(tmp_path: Path) -> None:
    save_bundle(tmp_path, {"tiny": _tiny()}, _meta())
    _rewrite_manifest(tmp_path, sha256={"../tiny.safetensors": "0" * 64})
    with pytest.raises(BundleError, match="not a plain file name"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path / "nowhere")


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    save_bundle(tmp_path, {"tiny": _tiny(5)}, _meta(label_order=SUBTYPES, thresholds={}))
    _rewrite_manifest(tmp_path, label_order=list(LABELS))
    with pytest.raises(BundleError, match="does not fit tiny with 6 outputs"):
        load_bundle(tmp_path)


def test_a_bundle_at_another_input_size_than_it_was_trained_at_is_refused(tmp_path: Path) -> None:
    recipe = {"name": "lite", "step": "M4", "input_size": 96}
    save_bundle(tmp_path, {"tiny": _tiny()}, _meta(recipe=recipe, input_size={"tiny": 96}))
    assert load_bundle(tmp_path).input_size == {"tiny": 96}
    _rewrite_manifest(tmp_path, input_size={"tiny": 128})
    with pytest.raises(BundleError, match=r"bundle\.json: input_size of tiny is 128 px .* at 96 px"):
        load_bundle(tmp_path)
    # A recipe of the nets' own sizes (None) trained tiny at its native 128 px.
    native = tmp_path / "native"
    save_bundle(native, {"tiny": _tiny()}, _meta(recipe={"name": "lite", "input_size": None}))
    _rewrite_manifest(native, input_size={"tiny": 64})
    with pytest.raises(BundleError, match="trained it at 128 px"):
        load_bundle(native)
