"""Case explanations (ml.explain), PNG renderings (ml.render) and the explain / atlas command lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.atlas import Atlas, load_atlas
from ml.bundle import Bundle, BundleMeta, load_bundle, save_bundle
from ml.cam import area_percent, head_mask, segment
from ml.cli import atlas as atlas_cli
from ml.cli import explain as explain_cli
from ml.data import CaseData, load_phantom_dataset
from ml.explain import build_bundle_atlas, default_arch, explain_case
from ml.labels import LABELS
from ml.models import build_architecture
from ml.phantom import PhantomConfig, generate_dataset
from ml.preprocess import prepare_volume
from ml.render import colour_lut, heatmap_png, heatmap_rgb, map_png, patch_thumbnail

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 64
PHANTOM = PhantomConfig(seed=7, size=64, slices_min=6, slices_max=6, negative_fraction=0.0)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom")
    generate_dataset(PHANTOM, out, n_cases=2, progress=False)
    return out


@pytest.fixture(scope="module")
def cases(phantoms: Path) -> list[CaseData]:
    return load_phantom_dataset(phantoms)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    model = build_architecture("tiny", 6)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, SIZE, SIZE) * 2)
    folder = tmp_path_factory.mktemp("bundle")
    meta = BundleMeta(input_size={"tiny": SIZE}, thresholds={"ANY": 0.0})  # every slice "positive"
    save_bundle(folder, {"tiny": model.eval()}, meta)
    return folder


@pytest.fixture(scope="module")
def bundle(bundle_dir: Path) -> Bundle:
    return load_bundle(bundle_dir)


@pytest.fixture(scope="module")
def atlas(bundle: Bundle, cases: list[CaseData]) -> Atlas:
    torch.set_num_threads(1)
    return build_bundle_atlas(bundle, cases, top_m=6, top_fraction=0.1)


def test_explain_case_maps_segmentation_and_area(bundle: Bundle, cases: list[CaseData]) -> None:
    hu = np.asarray(cases[0].volume())
    result = explain_case(bundle, hu, slices=[3, 1], labels=["ANY", "IPH"])
    assert result.arch == "tiny" and result.target_layer == "features.block4" and result.input_size == SIZE
    assert result.slices == (3, 1) and result.labels == ("ANY", "IPH") and result.shape == hu.shape[1:]
    assert len(result.items) == 4
    model = bundle.models["tiny"]
    with torch.no_grad():
        probs = torch.sigmoid(model(prepare_volume(hu[[3]], bundle.windowing, SIZE)))[0]
    item = result.get(3, "ANY")
    assert item.probability == pytest.approx(float(probs[LABELS.index("ANY")]), abs=1e-5)
    assert item.native_map.shape == (SIZE // 16, SIZE // 16) and item.raw_max == item.native_map.max()
    assert item.map.shape == hu.shape[1:] and item.map.dtype == np.float32
    assert item.map.min() >= 0 and item.map.max() == pytest.approx(1.0 if item.raw_max > 0 else 0.0)
    np.testing.assert_array_equal(item.segmentation, segment(item.map))
    assert item.area_percent == pytest.approx(area_percent(item.segmentation, head_mask(hu[3])))
    assert item.basis == () and item.candidates == ()
    doc = result.to_dict()
    json.dumps(doc)
    assert [(i["slice"], i["label"]) for i in doc["items"]] == [
        (3, "ANY"),
        (1, "ANY"),
        (3, "IPH"),
        (1, "IPH"),
    ]


def test_explain_case_with_atlas_gives_basis_and_candidates(
    bundle: Bundle, atlas: Atlas, cases: list[CaseData]
) -> None:
    label = max(atlas.label_order, key=lambda x: atlas.counts()[x])
    assert atlas.counts()[label] >= 4
    result = explain_case(
        bundle, np.asarray(cases[1].volume()), slices=[2], labels=[label], atlas=atlas, top_k=3
    )
    item = result.get(2, label)
    assert [b.position for b in item.basis] == [1, 2, 3]
    assert [b.distance for b in item.basis] == sorted(b.distance for b in item.basis)
    assert [c.role for c in item.candidates] == ["lowest", "middle", "middle", "highest"]
    assert item.candidates[0].entry == item.basis[0].entry
    entry = result.to_dict()["items"][0]["basis"][0]["atlas_entry"]
    assert entry["label"] == label and {"block", "filter", "case_id", "slice_index", "box"} <= set(entry)


def test_explain_case_refuses_bad_requests(bundle: Bundle, atlas: Atlas, cases: list[CaseData]) -> None:
    hu = np.asarray(cases[0].volume())
    with pytest.raises(ValueError, match=r"unknown slices \[6\]; valid: 0\.\.5"):
        explain_case(bundle, hu, slices=[6])
    with pytest.raises(ValueError, match="unknown labels \\['XYZ'\\]"):
        explain_case(bundle, hu, labels=["XYZ"])
    with pytest.raises(ValueError, match="arch 'resnet50' is not in the bundle"):
        explain_case(bundle, hu, arch="resnet50")
    with pytest.raises(ValueError, match="hu must be"):
        explain_case(bundle, hu[0])
    other = Atlas(**{**atlas.__dict__, "input_size": 128})
    with pytest.raises(ValueError, match="input size 128 differs"):
        explain_case(bundle, hu, slices=[0], atlas=other)
    moved = Atlas(**{**atlas.__dict__, "source": {**atlas.source, "weights_sha256": "0" * 64}})
    with pytest.raises(ValueError, match="other weights"):
        explain_case(bundle, hu, slices=[0], atlas=moved)


def test_default_arch_prefers_resnet50(bundle: Bundle) -> None:
    assert default_arch(bundle) == "tiny"
    manifest = {**bundle.manifest, "archs": ["tiny", "resnet50"]}
    both = Bundle(bundle.path, manifest, {"tiny": bundle.models["tiny"], "resnet50": bundle.models["tiny"]})
    assert default_arch(both) == "resnet50"


# ---------------------------------------------------------------------------------------------- render


def _decode(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png))


def test_heatmap_blends_a_perceptual_colour_map() -> None:
    grey = np.full((20, 30), 100, np.uint8)
    unit = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    image = _decode(heatmap_png(grey, unit))
    assert image.mode == "RGB" and image.size == (30, 20)
    np.testing.assert_array_equal(heatmap_rgb(grey, unit, alpha=0.0), np.repeat(grey[..., None], 3, axis=2))
    full = heatmap_rgb(grey, unit, alpha=1.0, cmap="viridis")
    np.testing.assert_array_equal(full[-1, -1], colour_lut("viridis")[255])
    lut = colour_lut("inferno")
    assert lut.shape == (256, 3) and lut[0].sum() < lut[255].sum()  # dark to light
    assert heatmap_rgb(grey, np.ones((5, 5)), alpha=1.0).shape == (20, 30, 3)  # coarse map resized
    with pytest.raises(ValueError, match="unknown colour map"):
        heatmap_png(grey, unit, cmap="nope")
    with pytest.raises(ValueError, match="uint8"):
        heatmap_png(grey.astype(np.float32), unit)


def test_map_png_and_patch_thumbnail() -> None:
    raw = _decode(map_png(np.array([[0.0, 0.5], [1.0, 2.0]])))
    assert raw.mode == "L" and np.asarray(raw).tolist() == [[0, 128], [255, 255]]
    patch = np.zeros((16, 16, 3), np.uint8)
    thumb = _decode(patch_thumbnail(patch, 48, np.ones((16, 16), np.float16)))
    assert thumb.size == (48, 48) and np.asarray(thumb).max() > 0
    assert _decode(patch_thumbnail(patch[..., 0], 8)).size == (8, 8)


# ------------------------------------------------------------------------------------------ command line


def test_atlas_and_explain_command_lines(
    bundle_dir: Path, phantoms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    atlas_dir = tmp_path / "atlas"
    argv = ["--model", str(bundle_dir), "--data", str(phantoms), "--out", str(atlas_dir), "--device", "cpu"]
    assert atlas_cli.main([*argv, "--top-m", "8", "--top-fraction", "0.1", "--quiet"]) == 0
    atlas = load_atlas(atlas_dir)
    assert atlas.n_images == 12 and "entries" in capsys.readouterr().out

    series = phantoms / "case0001" / "series"
    out = tmp_path / "explained"
    argv = ["--model", str(bundle_dir), str(series), "--out", str(out), "--atlas", str(atlas_dir)]
    assert explain_cli.main([*argv, "--slices", "2,3", "--label", "ANY,SDH", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "area %" in printed and "wrote 4 overlays" in printed
    for name in ("slice_002_ANY_overlay.png", "slice_003_SDH_map.png", "explanation.json"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "explanation.json").read_text())
    assert doc["arch"] == "tiny" and doc["selection"] == {"ANY": "--slices", "SDH": "--slices"}
    thumbnails = {b["thumbnail"] for item in doc["items"] for b in item["basis"] + item["candidates"]}
    assert thumbnails and all((out / name).is_file() for name in thumbnails)

    default_out = tmp_path / "default"
    assert explain_cli.main(["--model", str(bundle_dir), str(series), "--out", str(default_out)]) == 0
    doc = json.loads((default_out / "explanation.json").read_text())
    assert doc["selection"]["ANY"].startswith("slices with p >= 0.000") and len(doc["items"]) == 6


def test_command_line_errors_name_the_path(bundle_dir: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        explain_cli.main(
            ["--model", str(bundle_dir), str(tmp_path), "--out", str(tmp_path), "--atlas", "nowhere"]
        )
    assert exc.value.code == 2 and "nowhere/atlas.json not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        atlas_cli.main(["--model", str(bundle_dir), "--data", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert "none: no such folder" in capsys.readouterr().err
