from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.bundle import BundleMeta, load_bundle, save_bundle
from ml.cli.infer import main
from ml.infer import decide, predict_bundle, predict_case, read_series
from ml.interpolation import combine, inference_images
from ml.labels import LABELS
from ml.models import build_architecture
from ml.phantom import PhantomConfig, generate_case, generate_dataset
from ml.preprocess import prepare_volume

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32  # tiny runs at any size; 32 px keeps every test fast
PHANTOM = PhantomConfig(seed=2, size=64, slices_min=6, slices_max=6, negative_fraction=0.0)


def _tiny(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_architecture("tiny", 6)
    model.train()  # non-trivial BatchNorm statistics, then eval like a trained net
    with torch.no_grad():
        model(torch.randn(8, 3, SIZE, SIZE) * 2)
    return model.eval()


def _predict(models: dict[str, torch.nn.Module], hu: np.ndarray, degree: int = 3, **kwargs: object):
    return predict_case(
        models,
        hu,
        input_size=dict.fromkeys(models, SIZE),
        degree=dict.fromkeys(models, degree),
        windowing="paper",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def hu() -> np.ndarray:
    return generate_case(PHANTOM, 0).hu


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom")
    manifest = generate_dataset(PHANTOM, out, n_cases=1, progress=False)
    return out / manifest["cases"][0]["case_id"] / "series"


def _naive(model: torch.nn.Module, hu: np.ndarray, degree: int) -> np.ndarray:
    """Reference: per slice, its n images one forward at a time, then the weighted combination."""
    volume = prepare_volume(hu, "paper", SIZE)
    rows = []
    with torch.no_grad():
        for s in range(len(volume)):
            images, weights = inference_images(volume, s, degree)
            probs = [torch.sigmoid(model(image[None]))[0].numpy() for image in images]
            rows.append(combine(np.stack(probs), weights))
    return np.stack(rows)


def test_shapes_and_label_order(hu: np.ndarray) -> None:
    pred = _predict({"tiny": _tiny()}, hu)
    z = len(hu)
    assert pred.per_net["tiny"].shape == (z, len(LABELS))
    assert pred.slices.shape == (z, len(LABELS)) and pred.case.shape == (len(LABELS),)
    assert ((pred.slices >= 0) & (pred.slices <= 1)).all()
    assert pred.n_images == {"tiny": 3 * z}
    assert {"preprocess", "forward:tiny", "total"} <= set(pred.timings)


@pytest.mark.parametrize("degree", [1, 3, 5, 9])
def test_interpolation_degree_gives_n_images_per_slice(hu: np.ndarray, degree: int) -> None:
    model = _tiny()
    seen: list[int] = []
    handle = model.register_forward_hook(lambda _m, args, _out: seen.append(len(args[0])))
    try:
        pred = _predict({"tiny": model}, hu, degree=degree, batch_size=64)
    finally:
        handle.remove()
    assert sum(seen) == pred.n_images["tiny"] == degree * len(hu)
    assert all(n % degree == 0 for n in seen)  # batches hold whole slices


@pytest.mark.parametrize("degree", [3, 5])
def test_equals_naive_per_slice_reference(hu: np.ndarray, degree: int) -> None:
    model = _tiny()
    pred = _predict({"tiny": model}, hu, degree=degree, batch_size=7)
    np.testing.assert_allclose(pred.per_net["tiny"], _naive(model, hu, degree), rtol=0, atol=1e-5)


def test_ensemble_average_weighted_and_vote(hu: np.ndarray) -> None:
    models = {"tiny": _tiny(0), "tiny_b": _tiny(1)}
    pred = _predict(models, hu)
    a, b = pred.per_net["tiny"], pred.per_net["tiny_b"]
    assert not np.allclose(a, b)
    np.testing.assert_allclose(pred.slices, (a + b) / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_predict({"tiny": models["tiny"]}, hu).slices, a, rtol=0, atol=1e-6)
    weighted = _predict(models, hu, ensemble="weighted", ensemble_weights={"tiny": 1.0, "tiny_b": 0.0})
    np.testing.assert_allclose(weighted.slices, a, rtol=0, atol=1e-6)
    vote = _predict(models, hu, ensemble="vote", vote_thresholds=0.5)
    np.testing.assert_array_equal(vote.slices, ((a >= 0.5).astype(float) + (b >= 0.5)) / 2)
    with pytest.raises(ValueError, match="ensemble_weights"):
        _predict(models, hu, ensemble="weighted")


def test_case_is_max_over_slices(hu: np.ndarray) -> None:
    pred = _predict({"tiny": _tiny(), "tiny_b": _tiny(1)}, hu)
    np.testing.assert_array_equal(pred.case, pred.slices.max(axis=0))


def test_batch_size_does_not_change_results(hu: np.ndarray) -> None:
    model = _tiny()
    results = [_predict({"tiny": model}, hu, batch_size=bs).slices for bs in (1, 4, 64)]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=0, atol=1e-6)


def test_model_mode_restored_and_bad_input_named(hu: np.ndarray) -> None:
    model = _tiny().train()
    _predict({"tiny": model}, hu)
    assert model.training
    with pytest.raises(ValueError, match="degree has no entry for tiny"):
        predict_case({"tiny": model}, hu, input_size={"tiny": SIZE}, degree={}, windowing="paper")
    with pytest.raises(ValueError, match=r"\(Z >= 1, H, W\)"):
        _predict({"tiny": model}, hu[0])


def test_decide_without_threshold_makes_no_decision() -> None:
    got = decide([0.2, 0.5, 0.9], ("A", "B", "C"), {"A": 0.2, "B": None, "C": float("nan")})
    assert got == {"A": True, "B": None, "C": None}


def _save_tiny_bundle(folder: Path, model: torch.nn.Module, thresholds: dict[str, float | None]) -> None:
    meta = BundleMeta(
        recipe={"name": "lite"},
        windowing="paper",
        thresholds=thresholds,
        input_size={"tiny": SIZE},
        degree={"tiny": 3},
    )
    save_bundle(folder, {"tiny": model}, meta)


def test_predict_bundle_round_trip_decisions(tmp_path: Path, hu: np.ndarray) -> None:
    model = _tiny()
    case = _predict({"tiny": model}, hu).case
    iph, any_ = LABELS.index("IPH"), LABELS.index("ANY")
    thresholds = {"IPH": min(1.0, case[iph] + 1e-3), "ANY": case[any_] - 1e-3, "SDH": None}
    _save_tiny_bundle(tmp_path, model, thresholds)
    result = predict_bundle(load_bundle(tmp_path), hu)
    np.testing.assert_allclose(result.case, case, rtol=0, atol=1e-6)
    assert result.label_order == LABELS and list(result.positive) == list(LABELS)
    assert result.positive["IPH"] is False and result.positive["ANY"] is True
    assert all(result.positive[label] is None for label in ("IVH", "SDH", "EDH", "SAH"))


def test_read_series_sorts_along_the_normal(series: Path, tmp_path: Path, hu: np.ndarray) -> None:
    # Reversed file names: the order must come from ImagePositionPatient, not from the names.
    files = sorted(series.glob("*.dcm"))
    for k, path in enumerate(files):
        shutil.copy(path, tmp_path / f"IM{len(files) - k:04d}.dcm")
    (tmp_path / "notes.txt").write_text("not DICOM")
    volume, info = read_series(tmp_path)
    assert volume.dtype == np.int16 and volume.shape == hu.shape
    np.testing.assert_array_equal(volume, hu)
    assert np.all(np.diff(info.z) > 0) and info.files[0].name == f"IM{len(files):04d}.dcm"
    assert info.pixel_spacing == pytest.approx((230 / 64, 230 / 64))


def test_cli_json_and_table(series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _save_tiny_bundle(tmp_path, _tiny(), {"ANY": 0.5, "IPH": 0.99})
    command = [sys.executable, "-m", "ml.infer", "--model", str(tmp_path), str(series), "--device", "cpu"]
    out = subprocess.run([*command, "--json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert doc["labels"] == list(LABELS) and doc["archs"] == ["tiny"]
    assert doc["n_images"] == {"tiny": 3 * PHANTOM.slices_max}
    probs = np.array([[s["probabilities"][label] for label in LABELS] for s in doc["slices"]])
    assert probs.shape == (PHANTOM.slices_max, len(LABELS))
    assert np.all(np.diff([s["z"] for s in doc["slices"]]) > 0)
    case = doc["case"]
    np.testing.assert_allclose([case[label]["probability"] for label in LABELS], probs.max(axis=0))
    assert case["ANY"]["threshold"] == 0.5 and case["ANY"]["positive"] is (case["ANY"]["probability"] >= 0.5)
    assert case["IPH"]["positive"] is (case["IPH"]["probability"] >= 0.99)
    assert case["SDH"]["threshold"] is None and case["SDH"]["positive"] is None

    assert main(command[3:]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["slice", "z_mm", *LABELS]
    rows = [line.split() for line in lines[2 : 2 + PHANTOM.slices_max]]
    assert [int(r[0]) for r in rows] == list(range(PHANTOM.slices_max))
    np.testing.assert_allclose([[float(v) for v in r[2:]] for r in rows], probs, atol=1e-3)
    cells = {line.split()[0]: line.split()[1:] for line in lines[2 + PHANTOM.slices_max :]}
    np.testing.assert_allclose([float(v) for v in cells["case"]], probs.max(axis=0), atol=1e-3)
    assert cells["threshold"] == ["0.990", "-", "-", "-", "-", "0.500"]
    words = {True: "yes", False: "no", None: "n/a"}
    assert cells["positive"] == [words[case[label]["positive"]] for label in LABELS]
    assert any("no decision" in line for line in lines)


def test_cli_names_missing_paths(series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(SystemExit) as exc:
        main(["--model", str(missing), str(series)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {missing}: not found; pass the model bundle folder") and "\n" not in err
    _save_tiny_bundle(tmp_path / "bundle", _tiny(), {})
    with pytest.raises(SystemExit):
        main(["--model", str(tmp_path / "bundle"), str(missing)])
    assert capsys.readouterr().err.strip() == f"error: series folder not found: {missing}"
    with pytest.raises(SystemExit):
        main(["--model", str(series), str(series)])
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {series}/bundle.json") and "not a model bundle" in err
    assert len(err.splitlines()) == 1
