"""Training of the ICH networks and of their bundle (docs/science.md, "Training and model selection").

``train(recipe, train_cases, val_cases, out_dir)`` trains every arch of the recipe, then ensembles them:

0. **Start.** Each net's backbone starts from ImageNet weights (``ml.weights``: the local folder
   ``$ICHWEB_IMAGENET_WEIGHTS_DIR``, else the library's cache or download), its head from random weights;
   without weights it starts at random with one warning, or stops with an error when the recipe
   ``require_pretrained`` (``paper``) and not ``allow_random_init``. Where each start came from (file or
   library weights name, sha256; None for random) is kept in the checkpoint, the per-arch summary
   (``pretrained``) and the bundle manifest.
1. **Optimisation.** SGD with Nesterov momentum (or Adam), the step's loss (plain BCE, eq. 2 with the
   weights of eq. 3 counted over the training slices, or Lewicki's class weights), batches from
   ``ml.slices.SliceBatchSampler`` (M4: interpolated images with one ``b`` per batch, augmentation).
2. **Schedule and stop.** After every epoch the validation loss (the training loss function on the
   validation slices, without interpolation or augmentation) drives ``ReduceLROnPlateau(factor=0.1,
   patience=recipe.patience)``: a plateau is reached at the ``patience + 1``-th consecutive epoch that
   does not beat the best validation loss (by torch's default relative margin 1e-4); counting restarts
   after each plateau. The first ``lr_reductions`` (3) plateaus multiply the LR by 0.1; the next plateau
   ends training (that epoch is still evaluated and checkpointed). ``max_epochs`` caps it all. Without
   ``patience`` (Lewicki) the LR stays constant for ``max_epochs``.
3. **Model selection.** After every epoch, the mAP (``ml.stats.mean_average_precision``) of the per-slice
   validation probabilities, predicted from the original slices only (no M4 interpolation, for speed);
   the weights of the best epoch (first best on ties) are kept and used afterwards.
4. **Checkpoints.** Every epoch ends with ``out_dir/checkpoints/<arch>.pt`` (model, optimiser, scheduler,
   grad scaler, epoch, step, best mAP and weights, history, RNG states), written atomically. With
   ``resume`` an existing checkpoint is continued at its next epoch; since every random draw of the data
   depends only on ``(seed, arch, epoch)`` and the RNG states are restored, a resumed CPU run gives the
   weights an uninterrupted run gives.
5. **Ensemble and operating point.** The selected nets predict every validation case with
   ``ml.infer.predict_case`` (M4 interpolation at each arch's degree; unweighted average; case = max over
   slices). Per class, the threshold is ``ml.stats.thresholds_for_sensitivity`` on the case-level
   validation probabilities at ``recipe.target_sensitivity`` (0.95): the paper's "high-sensitivity point
   chosen on the validation set". The bundle (``ml.bundle``) stores the nets, recipe, windowing, input
   sizes, degrees and thresholds.

On CUDA: autocast (bf16 where supported, else fp16 with a GradScaler), cudnn.benchmark; channels_last on every
device.

One arch's loop is ``ml.trainer.ArchTrainer``; the command line
``python -m ml.train --recipe lite --data var/phantom --out var/run`` is ``ml.cli.train``.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ml.bundle import BundleMeta, save_bundle
from ml.checkpoint import load_checkpoint
from ml.data import CaseData
from ml.models import build_architecture
from ml.recipes import RECIPES, STEPS, Recipe, StepConfig
from ml.trainer import ArchState, ArchTrainer, ProgressEvent, RunSettings
from ml.validation import ensemble_validation, finite_or_none

__all__ = [
    "RECIPES",
    "STEPS",
    "ProgressEvent",
    "Recipe",
    "StepConfig",
    "TrainResult",
    "assemble",
    "train",
    "train_arch",
    "trained_arch",
]

logger = logging.getLogger("ml.train")


@dataclass
class TrainResult:
    """Where the bundle is, the validation metrics of the ensemble, and one history row per arch epoch.

    ``pretrained``: arch -> the record of its ImageNet start (``ml.weights.load_imagenet_weights``) or None
    (random start), as in the bundle manifest; archs whose start was not recorded are left out.
    """

    bundle_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    pretrained: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _summary(state: ArchState) -> dict[str, Any]:
    return {
        "best_epoch": state.best_epoch,
        "best_val_map": finite_or_none(state.best_map),
        "epochs": state.epoch,
        "stopped_on_plateau": state.stopped,
        "pretrained": state.pretrained,
    }


def train_arch(
    recipe: Recipe,
    arch: str,
    train_cases: Sequence[CaseData],
    val_cases: Sequence[CaseData],
    out_dir: str | Path,
    *,
    device: torch.device | str | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    resume: bool = True,
) -> tuple[nn.Module, dict[str, Any], list[dict[str, Any]]]:
    """Train one arch of ``recipe`` (module doc 1-4): the unit of work of one GPU task.

    Its checkpoint ``out_dir/checkpoints/<arch>.pt`` is written every epoch; calling again with ``resume``
    continues after the last finished epoch (or returns at once when that arch already stopped).

    Returns:
        The best-mAP model (eval mode), its summary (``best_epoch``, ``best_val_map``, ``epochs``,
        ``stopped_on_plateau``, ``pretrained``: the record of the ImageNet start or None) and its history
        rows.

    Raises:
        PretrainedWeightsError: (a ValueError) unusable ImageNet weights, or none where the recipe requires
            them.
    """
    if arch not in recipe.archs:
        raise ValueError(f"arch {arch!r} is not in recipe {recipe.name!r} ({', '.join(recipe.archs)})")
    if not train_cases or not val_cases:
        raise ValueError(f"need training and validation cases, got {len(train_cases)} and {len(val_cases)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = RunSettings.create(recipe, device)
    _seed_everything(recipe.seed)
    trainer = ArchTrainer(arch, recipe, train_cases, val_cases, out, run, progress)
    model, state = trainer.fit(resume=resume)
    return model, _summary(state), list(state.history)


def trained_arch(
    recipe: Recipe, arch: str, out_dir: str | Path
) -> tuple[nn.Module, dict[str, Any], list[dict[str, Any]]]:
    """The finished arch from its checkpoint (for an assembly step run apart from training).

    Raises:
        FileNotFoundError: ``arch`` has no checkpoint in ``out_dir`` (train it first).
    """
    path = Path(out_dir) / "checkpoints" / f"{arch}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint of {arch}; train it with train_arch first")
    ckpt = load_checkpoint(path)
    state = ArchState(**ckpt["state"])
    model = build_architecture(arch, recipe.n_outputs)
    model.load_state_dict(state.best_state if state.best_state is not None else ckpt["model"])
    return model.eval(), _summary(state), list(state.history)


def assemble(
    recipe: Recipe,
    models: dict[str, nn.Module],
    val_cases: Sequence[CaseData],
    out_dir: str | Path,
    *,
    per_arch: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    device: torch.device | str | None = None,
) -> TrainResult:
    """Ensemble the trained nets, choose the operating points on validation and save the bundle (step 5)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = RunSettings.create(recipe, device)
    input_size = {arch: recipe.size_for(arch) for arch in recipe.archs}
    degree = {arch: recipe.degree_for(arch) for arch in recipe.archs}
    window = recipe.windowing_for_step()
    metrics = ensemble_validation(
        models, val_cases, recipe, input_size=input_size, degree=degree, windowing=window, device=run.device
    )
    metrics["per_arch"] = per_arch or {}
    pretrained = {
        arch: summary["pretrained"]
        for arch, summary in (per_arch or {}).items()
        if arch in models and isinstance(summary, dict) and "pretrained" in summary
    }
    bundle_dir = out / "bundle"
    meta = BundleMeta(
        recipe=recipe.to_dict(),
        label_order=recipe.label_order,
        windowing=window,
        thresholds=metrics["thresholds"],
        input_size=input_size,
        degree=degree,
        pretrained=pretrained,
    )
    save_bundle(bundle_dir, {arch: m.cpu() for arch, m in models.items()}, meta)
    history = history or []
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out / "history.json").write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")
    logger.info("bundle written to %s (ensemble val mAP %s)", bundle_dir, metrics["val_map"])
    return TrainResult(bundle_dir, metrics, history, pretrained)


def train(
    recipe: Recipe,
    train_cases: Sequence[CaseData],
    val_cases: Sequence[CaseData],
    out_dir: str | Path,
    *,
    device: torch.device | str | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train every arch of ``recipe`` (``train_arch``), then ``assemble`` the bundle (module doc 1-5).

    Args:
        recipe: what to train (``RECIPES`` or a ``Recipe``).
        train_cases: training cases.
        val_cases: validation cases (model selection, LR schedule, thresholds); at least one ICH case.
        out_dir: receives ``checkpoints/<arch>.pt``, ``bundle/``, ``metrics.json`` and ``history.json``.
        device: ``"cpu"``, ``"cuda"``...; default CUDA when available.
        progress: called with a ``ProgressEvent`` every ``recipe.progress_every`` steps and per epoch.
        resume: continue from existing checkpoints (False starts over and overwrites them).

    Returns:
        ``TrainResult(bundle_dir, metrics, history)``; ``metrics`` has the ensemble's validation mAP
        (slice and case level), per-label case AUC, thresholds and their sensitivity and specificity, and
        per arch the selected epoch.

    Raises:
        ValueError: no training or no validation case, or a checkpoint of another recipe in ``out_dir``.
    """
    if not train_cases or not val_cases:
        raise ValueError(f"need training and validation cases, got {len(train_cases)} and {len(val_cases)}")
    logger.info(
        "recipe %s (%s): %d training, %d validation cases",
        *(recipe.name, recipe.step.name, len(train_cases), len(val_cases)),
    )
    models: dict[str, nn.Module] = {}
    history: list[dict[str, Any]] = []
    per_arch: dict[str, Any] = {}
    for arch in recipe.archs:
        models[arch], per_arch[arch], rows = train_arch(
            recipe, arch, train_cases, val_cases, out_dir, device=device, progress=progress, resume=resume
        )
        history += rows
    return assemble(recipe, models, val_cases, out_dir, per_arch=per_arch, history=history, device=device)


if __name__ == "__main__":
    from ml.cli.train import main

    raise SystemExit(main())
