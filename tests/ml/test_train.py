from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.bundle import load_bundle
from ml.checkpoint import load_checkpoint
from ml.cli.train import main
from ml.data import CaseData
from ml.labels import LABELS, SUBTYPES
from ml.losses import bce_loss, weighted_bce_loss
from ml.models import INPUT_SIZE, PAPER_ARCHS, build_model
from ml.phantom import PhantomConfig, generate_case, generate_dataset
from ml.recipes import RECIPES, STEPS, Recipe
from ml.train import ProgressEvent, train
from ml.trainer import ArchState, arch_seed, loss_function, plateau_scheduler, plateau_step

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cases() -> list[CaseData]:
    cfg = PhantomConfig(seed=3, size=64, slices_min=6, slices_max=6, negative_fraction=0.3)
    out = []
    for i in range(6):
        c = generate_case(cfg, i)
        out.append(CaseData(c.case_id, c.patient.patient_id, c.hu, c.labels, c.denoised))
    return out


def _split(cases: list[CaseData]) -> tuple[list[CaseData], list[CaseData]]:
    """Four training cases and two validation cases, one of them ICH-positive."""
    positive = [c for c in cases if c.is_positive]
    negative = [c for c in cases if not c.is_positive]
    val = [positive[0], negative[0]]
    return [c for c in cases if c not in val], val


def _recipe(**changes: object) -> Recipe:
    base = RECIPES["lite"].with_(input_size=64, batch_size=8, max_epochs=1, max_steps_per_epoch=2)
    return base.with_(**changes)


def test_steps_are_cumulative_and_recipes_follow_the_papers() -> None:
    flags = ("any_output", "weighted_bce", "multi_window", "interpolation", "augmentation")
    on = [sum(getattr(STEPS[m], f) for f in flags) for m in ("M1", "M2", "M3", "M4")]
    assert on == [0, 2, 3, 5]
    assert STEPS["M1"].n_outputs == 5 and STEPS["M1"].label_order == SUBTYPES
    assert STEPS["M2"].n_outputs == 6 and STEPS["M2"].label_order == LABELS

    paper = RECIPES["paper"]
    assert paper.archs == PAPER_ARCHS and paper.step == STEPS["M4"]
    assert (paper.optimizer, paper.base_lr, paper.decay, paper.momentum, paper.batch_size) == (
        "sgd", 1e-3, 5e-5, 0.9, 64,
    )  # fmt: skip
    assert paper.lr_reductions == 3 and paper.windowing_for_step() == "paper"
    assert {a: paper.size_for(a) for a in PAPER_ARCHS} == {a: INPUT_SIZE[a] for a in PAPER_ARCHS}
    assert [paper.degree_for(a) for a in PAPER_ARCHS] == [5, 3, 5, 3]
    assert paper.with_(step="M2").windowing_for_step() == "brain"
    assert paper.with_(step="M3").degree_for("vgg16") == 1
    assert paper.with_(step="M1").loss_kind() == "bce" and paper.loss_kind() == "eq2"

    lewicki = RECIPES["lewicki"]
    assert (lewicki.archs, lewicki.optimizer, lewicki.base_lr, lewicki.batch_size, lewicki.max_epochs) == (
        ("lewicki",), "adam", 1e-5, 16, 10,
    )  # fmt: skip
    assert lewicki.windowing_for_step() == "lewicki" and lewicki.patience is None
    z, y = torch.zeros(1, 6), torch.zeros(1, 6)
    y[0, LABELS.index("EDH")] = 1
    # Epidural counts twice: its term is 2 ln 2, every other term ln 2.
    assert float(loss_function(lewicki, [], CPU)(z, y)) == pytest.approx(7 * math.log(2))

    lite = RECIPES["lite"]
    assert lite.archs == ("tiny",) and lite.size_for("tiny") == 128 and lite.step == STEPS["M4"]
    assert Recipe.from_dict(json.loads(json.dumps(paper.to_dict()))) == paper
    with pytest.raises(ValueError, match="unknown arch"):
        Recipe(name="x", archs=("alexnet",))


def test_eq3_weights_come_from_training_slices() -> None:
    labels = np.zeros((8, 6), np.float32)
    labels[:2, :] = 1  # every class: 2 positive and 6 negative slices, except EDH below
    labels[2, 3] = 1  # EDH: 3 positive, 5 negative
    case = CaseData("c", "p", np.zeros((8, 4, 4), np.int16), labels)
    z, y = torch.randn(5, 6), (torch.rand(5, 6) > 0.5).float()
    a_pos = torch.tensor([8 / 4, 8 / 4, 8 / 4, 8 / 6, 8 / 4, 8 / 4])
    a_neg = torch.tensor([8 / 12, 8 / 12, 8 / 12, 8 / 10, 8 / 12, 8 / 12])
    expected = weighted_bce_loss(z, y, a_pos, a_neg)
    assert torch.allclose(loss_function(_recipe(), [case], CPU)(z, y), expected)
    assert loss_function(_recipe(step="M1"), [case], CPU) is bce_loss
    # A class without positive training slices cannot be weighted by eq. 3: weight 1, with a warning.
    labels[:, 4] = 0
    sparse = CaseData("c", "p", np.zeros((8, 4, 4), np.int16), labels)
    a_pos[4] = a_neg[4] = 1
    assert torch.allclose(
        loss_function(_recipe(), [sparse], CPU)(z, y), weighted_bce_loss(z, y, a_pos, a_neg)
    )


def test_plateau_rule_cuts_three_times_then_stops() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1e-3)
    scheduler = plateau_scheduler(optimizer, patience=1)
    state = ArchState()
    lrs, stopped_at = [], None
    for epoch in range(1, 20):
        plateau_step(scheduler, 1.0, state, lr_cuts=3)  # the validation loss never improves
        lrs.append(optimizer.param_groups[0]["lr"])
        if state.stopped:
            stopped_at = epoch
            break
    # patience 1: a plateau every second epoch without improvement.
    assert lrs[:7] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5, 1e-6])
    assert stopped_at == 9 and state.plateaus == 4
    plateau_step(None, 1.0, state, 3)  # no schedule (Lewicki): nothing happens


@pytest.mark.parametrize("step", ["M1", "M4"])
def test_one_step_trains_and_writes_a_loadable_bundle(
    cases: list[CaseData], tmp_path: Path, step: str
) -> None:
    train_cases, val_cases = _split(cases)
    recipe = _recipe(step=step, max_steps_per_epoch=1, progress_every=1)
    events: list[ProgressEvent] = []
    result = train(recipe, train_cases, val_cases, tmp_path, device="cpu", progress=events.append)

    assert [(h["epoch"], h["steps"]) for h in result.history] == [(1, 1)]
    assert math.isfinite(result.history[0]["train_loss"]) and math.isfinite(result.history[0]["val_loss"])
    assert events[-1].val_loss is not None and events[-1].steps_per_epoch == 1
    torch.manual_seed(arch_seed(recipe.seed, "tiny"))
    initial = build_model("tiny", recipe.n_outputs).state_dict()
    bundle = load_bundle(result.bundle_dir)
    trained = bundle.models["tiny"].state_dict()
    assert any(not torch.equal(initial[k], trained[k]) for k in initial if k.endswith("weight"))
    assert bundle.label_order == recipe.label_order and bundle.input_size == {"tiny": 64}
    assert bundle.degree == {"tiny": 3 if step == "M4" else 1}
    assert bundle.windowing == ("paper" if step == "M4" else "brain")
    assert bundle.recipe["step"]["name"] == step
    # An operating point exactly for the labels with a positive validation case.
    positives = result.metrics["n_val_positive_cases"]
    assert list(bundle.thresholds) == list(recipe.label_order) and any(positives.values())
    assert all((bundle.thresholds[k] is not None) == (positives[k] > 0) for k in recipe.label_order)
    assert result.metrics["n_val_cases"] == 2 and 0 <= result.metrics["val_map"] <= 1
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "checkpoints" / "tiny.pt").is_file()


class _Killed(Exception):
    pass


def _kill_in_epoch_2(event: ProgressEvent) -> None:
    if event.epoch == 2:
        raise _Killed


def test_a_killed_run_resumes_at_the_next_epoch_like_an_uninterrupted_run(
    cases: list[CaseData], tmp_path: Path
) -> None:
    train_cases, val_cases = _split(cases)
    recipe = _recipe(max_epochs=2, progress_every=1)
    with pytest.raises(_Killed):
        train(recipe, train_cases, val_cases, tmp_path / "a", device="cpu", progress=_kill_in_epoch_2)
    after_kill = load_checkpoint(tmp_path / "a" / "checkpoints" / "tiny.pt")
    assert after_kill["state"]["epoch"] == 1

    resumed = train(recipe, train_cases, val_cases, tmp_path / "a", device="cpu")
    straight = train(recipe, train_cases, val_cases, tmp_path / "b", device="cpu")

    assert [h["epoch"] for h in resumed.history] == [1, 2]
    # Epoch 1 came from the checkpoint, not from training again.
    assert resumed.history[0] == after_kill["state"]["history"][0]
    assert resumed.history[1]["steps"] == 4
    for got, want in zip(resumed.history, straight.history, strict=True):
        assert got["val_loss"] == want["val_loss"] and got["train_loss"] == want["train_loss"]
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "tiny.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "tiny.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

    # The best-mAP weights are kept in the checkpoint and are what the bundle holds.
    maps = [h["val_map"] for h in resumed.history]
    assert (
        a["state"]["best_epoch"]
        == int(np.argmax(maps)) + 1
        == resumed.metrics["per_arch"]["tiny"]["best_epoch"]
    )
    bundle = load_bundle(resumed.bundle_dir).models["tiny"].state_dict()
    assert all(torch.equal(bundle[k], a["state"]["best_state"][k]) for k in bundle)

    # Finished: another call trains nothing more.
    again = train(recipe, train_cases, val_cases, tmp_path / "a", device="cpu")
    assert again.history == resumed.history
    with pytest.raises(ValueError, match=r"another recipe \(differs in \['batch_size'\]\)"):
        train(recipe.with_(batch_size=4), train_cases, val_cases, tmp_path / "a", device="cpu")


def test_cli_trains_a_bundle_from_a_dataset_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = PhantomConfig(seed=5, size=64, slices_min=6, slices_max=6, negative_fraction=0.3, denoised=True)
    generate_dataset(cfg, tmp_path / "data", n_cases=6, progress=False)
    out = tmp_path / "run"
    argv = ["--recipe", "lite", "--data", str(tmp_path / "data"), "--out", str(out), "--epochs", "1"]
    argv += ["--max-steps", "2", "--batch-size", "8", "--seed", "1", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "validation mAP of the ensemble" in printed and f"bundle: {out / 'bundle'}" in printed

    bundle = load_bundle(out / "bundle")
    assert bundle.label_order == LABELS and bundle.archs == ["tiny"]
    split = json.loads((out / "split.json").read_text())
    patients = [{c["patient_id"] for c in split[name]} for name in ("train", "val", "test")]
    assert sum(len(p) for p in patients) == len(set().union(*patients)) == 6
    assert len(list((out / "cache").glob("*.npy"))) == 12  # standard and denoised series


def test_cli_names_a_missing_or_wrong_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for folder, expected in ((tmp_path / "nowhere", "no such folder"), (tmp_path, "not a dataset")):
        with pytest.raises(SystemExit) as exc:
            main(["--data", str(folder), "--out", str(tmp_path / "out")])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(folder) in err[0] and expected in err[0] and "manifest.json" in err[0]
