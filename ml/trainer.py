"""Training of one network: optimiser, loss, plateau schedule, mAP selection, checkpoints.

See docs/science.md, "Training and model selection".

``ArchTrainer(arch, recipe, ...).fit()`` is steps 1-4 of ``ml.train`` for one arch; see that module for the
rules. Every epoch: train on ``ml.slices`` batches, compute the validation loss and per-slice mAP (original
slices, no interpolation), step the plateau schedule (``plateau_step``), keep the best-mAP weights, and write
the checkpoint.

Example::

    >>> trainer = ArchTrainer("tiny", recipe, train_cases, val_cases, Path("run"), RunSettings.create(recipe))
    >>> model, state = trainer.fit()           # resumes from run/checkpoints/tiny.pt when present
"""

from __future__ import annotations

import logging
import math
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from ml.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ml.data import CaseData, slice_labels
from ml.device import default_device
from ml.gpu_batch import DeviceTransform, RawBatch
from ml.labels import ANY
from ml.losses import (
    bce_loss,
    class_weights_from_counts,
    class_weights_from_rates,
    lewicki_class_weights,
    weighted_bce_loss,
)
from ml.models import INPUT_SIZE, build_architecture
from ml.recipes import Recipe
from ml.slices import SliceBatchSampler, SliceDataset, make_loader, make_raw_loader
from ml.stats import mean_average_precision, roc_auc
from ml.validation import finite_or_none
from ml.weights import load_imagenet_weights

__all__ = [
    "ArchState",
    "ArchTrainer",
    "ProgressEvent",
    "RunSettings",
    "arch_seed",
    "loss_function",
    "plateau_scheduler",
    "plateau_step",
]

logger = logging.getLogger("ml.train")

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Recipe fields that may change between a run and its resumption.
_RESUMABLE_CHANGES = {
    "name",
    "max_epochs",
    "num_workers",
    "progress_every",
    "target_sensitivity",
    "degree",
    "require_pretrained",
    "allow_random_init",
    "device_preprocess",
}


@dataclass(frozen=True)
class ProgressEvent:
    """Training progress, sent every ``recipe.progress_every`` steps and at every epoch end.

    ``loss`` is the mean training loss of the epoch so far; ``val_loss`` and ``val_map`` are set only at the
    epoch end. ``step`` counts the steps of this epoch (1-based).
    """

    arch: str
    epoch: int
    step: int
    steps_per_epoch: int
    loss: float
    val_loss: float | None
    val_map: float | None
    lr: float


def arch_seed(seed: int, arch: str) -> int:
    """The seed of one arch's initialisation and data draws, from the recipe seed and the arch name."""
    return int(np.random.SeedSequence([seed, zlib.crc32(arch.encode())]).generate_state(1)[0])


def loss_function(
    recipe: Recipe,
    train_cases: Sequence[CaseData],
    device: torch.device,
    rates: NDArray[np.float64] | None = None,
) -> LossFn:
    """The recipe's loss: plain BCE (M1), eq. 2 with eq. 3 weights (M2+), or Lewicki's class weights.

    Eq. 3 counts the original training slices, or, given ``rates`` (balanced sampling: the positive rates
    per label the sampler shows the net), uses those. A class with no positive (or no negative) training
    slice has no finite weight; it gets weight 1 with a warning naming it, so a small demo set can still
    train.
    """
    n = recipe.n_outputs
    kind = recipe.loss_kind()
    if kind == "bce":
        return bce_loss
    if kind == "lewicki":
        w = torch.as_tensor(lewicki_class_weights()[:n], dtype=torch.float32, device=device)
        return lambda z, y: weighted_bce_loss(z, y, w, w)
    y = slice_labels(train_cases, n)
    a_pos, a_neg = np.ones(n), np.ones(n)
    positives = y.sum(axis=0)
    ok = (positives > 0) & (positives < len(y))
    if not ok.all():
        missing = [recipe.label_order[c] for c in np.flatnonzero(~ok)]
        logger.warning(
            "eq. 3 weights undefined for %s (no positive or no negative training slice): weight 1; "
            "the net cannot learn these outputs from this training set",
            ", ".join(missing),
        )
    if ok.any() and rates is not None:
        a_pos[ok], a_neg[ok] = class_weights_from_rates(np.asarray(rates)[ok])
    elif ok.any():
        a_pos[ok], a_neg[ok] = class_weights_from_counts(y[:, ok].astype(np.uint8))
    p = torch.as_tensor(a_pos, dtype=torch.float32, device=device)
    q = torch.as_tensor(a_neg, dtype=torch.float32, device=device)
    return lambda z, t: weighted_bce_loss(z, t, p, q)


def _optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=recipe.base_lr,
            momentum=recipe.momentum,
            nesterov=True,
            weight_decay=recipe.decay,
        )
    return torch.optim.Adam(model.parameters(), lr=recipe.base_lr, weight_decay=recipe.decay)


@dataclass
class ArchState:
    """What a checkpoint restores besides the modules: counters, the best model, the history, the start.

    ``plateaus`` counts the validation-loss plateaus; ``stopped`` is set at the plateau after the last
    allowed LR cut.
    """

    epoch: int = 0
    step: int = 0
    best_map: float = -math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    plateaus: int = 0
    stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Where the ImageNet start came from (``ml.weights.load_imagenet_weights``); None: random start.
    pretrained: dict[str, Any] | None = None


def plateau_scheduler(
    optimizer: torch.optim.Optimizer, patience: int
) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """``ReduceLROnPlateau`` on the validation loss, factor 0.1, torch's default relative threshold 1e-4."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=0.1, patience=patience, eps=0.0
    )


def onecycle_scheduler(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.OneCycleLR:
    """The ``onecycle`` schedule: warm-up to the recipe's LR over 15 % of the steps, cosine to ~0 after."""
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=recipe.base_lr,
        total_steps=max(1, recipe.max_epochs * max(1, steps_per_epoch)),
        pct_start=0.15,
        cycle_momentum=False,
    )


def plateau_step(
    scheduler: Any,
    val_loss: float,
    state: ArchState,
    lr_cuts: int,
) -> None:
    """Step the plateau schedule after an epoch: LR x0.1 three times, then stop.

    See docs/science.md, "Training and model selection".

    ``ReduceLROnPlateau`` (factor 0.1, ``eps=0`` so every cut is seen) detects a plateau; the first
    ``lr_cuts`` plateaus keep the cut LR, the next one sets ``state.stopped``.
    """
    if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return
    before = scheduler.optimizer.param_groups[0]["lr"]
    scheduler.step(val_loss)
    if scheduler.optimizer.param_groups[0]["lr"] < before:
        state.plateaus += 1
        state.stopped = state.plateaus > lr_cuts


@dataclass
class RunSettings:
    """Device, mixed precision and loader workers of a run (autocast on CUDA only; channels_last everywhere:
    cuDNN's and oneDNN's convolutions skip their layout reorders, 1.3x the tiny net's training images per
    second on a 2-core CPU).

    ``device_preprocess``: the training images are built on ``device`` from the workers' HU (``ml.gpu_batch``;
    ``Recipe.device_preprocess``, ``"auto"`` = on CUDA).
    """

    device: torch.device
    amp_dtype: torch.dtype | None
    num_workers: int
    device_preprocess: bool = False

    @classmethod
    def create(cls, recipe: Recipe, device: torch.device | str | None = None) -> RunSettings:
        dev = default_device(device)
        amp: torch.dtype | None = None
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        workers = recipe.num_workers
        if workers is None:
            workers = min(8, max(1, (os.cpu_count() or 2) - 1)) if dev.type == "cuda" else 0
        on_device = recipe.device_preprocess == "on" or (
            recipe.device_preprocess == "auto" and dev.type == "cuda"
        )
        return cls(dev, amp, workers, on_device)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x


def _checkpoint_recipe(recipe: Recipe) -> dict[str, Any]:
    return {k: v for k, v in recipe.to_dict().items() if k not in _RESUMABLE_CHANGES}


class ArchTrainer:
    """Trains one arch of a recipe (``ml.train`` steps 1-4).

    Args:
        arch: the network (``ml.models``).
        recipe: the training recipe.
        train_cases: training cases.
        val_cases: validation cases (loss for the schedule, mAP for selection).
        out_dir: the checkpoint goes to ``out_dir/checkpoints/<arch>.pt``.
        run: device settings.
        progress: receives ``ProgressEvent``s.
    """

    def __init__(
        self,
        arch: str,
        recipe: Recipe,
        train_cases: Sequence[CaseData],
        val_cases: Sequence[CaseData],
        out_dir: Path,
        run: RunSettings,
        progress: Callable[[ProgressEvent], None] | None = None,
    ) -> None:
        self.arch, self.recipe, self.run, self.progress = arch, recipe, run, progress
        self.path = Path(out_dir) / "checkpoints" / f"{arch}.pt"
        seed = arch_seed(recipe.seed, arch)
        torch.manual_seed(seed)
        # Random weights now; the ImageNet backbone is loaded by ``fit`` unless a checkpoint is resumed.
        model = build_architecture(arch, recipe.n_outputs)
        self.model = model.to(run.device, memory_format=torch.channels_last)  # type: ignore[call-overload]  # the stubs lack Module.to(device, memory_format=)
        self.optimizer = _optimizer(recipe, self.model)
        self.scaler = torch.amp.GradScaler(run.device.type, enabled=run.amp_dtype == torch.float16)
        window, size = recipe.windowing_for_step(), recipe.size_for(arch)
        self.train_data = SliceDataset(
            train_cases,
            recipe.step,
            windowing=window,
            size=size,
            native_size=INPUT_SIZE[arch],
            train=True,
            crop_to_head=recipe.crop_to_head,
            cache_images=recipe.cache_images,
        )
        self.val_data = SliceDataset(
            val_cases,
            recipe.step,
            windowing=window,
            size=size,
            train=False,
            crop_to_head=recipe.crop_to_head,
            cache_images=recipe.cache_images,
        )
        self.sampler = SliceBatchSampler(
            self.train_data,
            recipe.batch_size,
            seed=seed,
            max_batches=recipe.max_steps_per_epoch,
            drop_last=len(self.train_data) > recipe.batch_size,
            positive_fraction=recipe.positive_fraction if recipe.sampling == "balanced" else None,
        )
        rates = self.sampler.label_rates() if recipe.sampling == "balanced" else None
        self.loss_fn = loss_function(recipe, train_cases, run.device, rates)
        self.scheduler: Any = None
        if recipe.schedule == "onecycle":
            self.scheduler = onecycle_scheduler(self.optimizer, recipe, len(self.sampler))
        elif recipe.patience is not None:
            self.scheduler = plateau_scheduler(self.optimizer, recipe.patience)
        self.state = ArchState()
        self._transforms: dict[tuple[str, int], DeviceTransform] = {}

    def init_weights(self) -> dict[str, Any] | None:
        """Load the ImageNet backbone (``ml.weights``) for a fresh start; records it in ``state.pretrained``.

        Raises:
            PretrainedWeightsError: unusable weights, or none while the recipe requires them.
        """
        self.state.pretrained = load_imagenet_weights(
            self.model, self.arch, required=self.recipe.needs_pretrained
        )
        return self.state.pretrained

    def _loader(self, data: SliceDataset, sampler: SliceBatchSampler) -> Any:
        if self.run.device_preprocess:
            return make_raw_loader(data, sampler, self.run.num_workers, pin_memory=self.run.cuda)
        return make_loader(data, sampler, self.run.num_workers, pin_memory=self.run.cuda)

    def _inputs(self, batch: Any, data: SliceDataset) -> tuple[torch.Tensor, torch.Tensor]:
        """A loader's batch as ``(images, targets)`` on the device, built there on the device path."""
        if isinstance(batch, RawBatch):
            raw = batch.to(self.run.device)
            spec = (data.windowing, data.size)
            if spec not in self._transforms:
                self._transforms[spec] = DeviceTransform(*spec)
            return self.run.to_device(self._transforms[spec](raw)), raw.labels
        images, targets = batch
        return self.run.to_device(images), targets.to(self.run.device)

    def restore(self) -> bool:
        """Load the checkpoint when there is one; True when it was loaded.

        Raises:
            ValueError: the checkpoint was written with another recipe (other than the fields that may
                change on resume: max_epochs, workers, progress, thresholds' target, degrees, name).
        """
        if not self.path.is_file():
            return False
        ckpt = load_checkpoint(self.path)
        wanted = _checkpoint_recipe(self.recipe)
        if ckpt["recipe"] != wanted:
            changed = sorted(
                k for k in wanted.keys() | ckpt["recipe"].keys() if ckpt["recipe"].get(k) != wanted.get(k)
            )
            raise ValueError(
                f"{self.path} was written by another recipe (differs in {changed}); use resume=False"
            )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.state = ArchState(**ckpt["state"])
        set_rng_state(ckpt["rng"])
        logger.info("%s: resuming from %s after epoch %d", self.arch, self.path, self.state.epoch)
        return True

    def _save(self) -> None:
        save_checkpoint(
            self.path,
            {
                "arch": self.arch,
                "recipe": _checkpoint_recipe(self.recipe),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
                "scaler": self.scaler.state_dict(),
                "state": dict(self.state.__dict__),
                "rng": rng_state(),
            },
        )

    def train_epoch(self, epoch: int, lr: float) -> float:
        """One pass over the epoch's batches; returns the mean training loss per image."""
        self.model.train()
        self.sampler.set_epoch(epoch)
        steps = len(self.sampler)
        running, seen = 0.0, 0
        for step, batch in enumerate(self._loader(self.train_data, self.sampler), 1):
            images, targets = self._inputs(batch, self.train_data)
            with self.run.autocast():
                logits = self.model(images)
            loss = self.loss_fn(logits.float(), targets)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if isinstance(self.scheduler, torch.optim.lr_scheduler.OneCycleLR):
                self.scheduler.step()
            self.state.step += 1
            running += float(loss.detach()) * len(targets)
            seen += len(targets)
            if self.progress is not None and step % self.recipe.progress_every == 0 and step < steps:
                self.progress(ProgressEvent(self.arch, epoch, step, steps, running / seen, None, None, lr))
        return running / max(seen, 1)

    def validate(self) -> tuple[float, float, float]:
        """``(loss, mAP, case AUC of "any")`` on the validation slices: originals only, no interpolation or
        augmentation; a case's score is its maximum slice probability (M1: of the five subtypes)."""
        sampler = SliceBatchSampler(self.val_data, self.recipe.batch_size, shuffle=False)
        self.model.eval()
        total, probs, labels = 0.0, [], []
        with torch.inference_mode():
            for batch in self._loader(self.val_data, sampler):
                images, targets = self._inputs(batch, self.val_data)
                with self.run.autocast():
                    logits = self.model(images).float()
                total += float(self.loss_fn(logits, targets)) * len(targets)
                probs.append(torch.sigmoid(logits).cpu().numpy())
                labels.append(targets.cpu().numpy())
        y, p = np.concatenate(labels), np.concatenate(probs)
        return total / max(len(y), 1), mean_average_precision(y, p), self._case_auc(y, p)

    def _case_auc(self, y: NDArray[np.floating], p: NDArray[np.floating]) -> float:
        order = self.recipe.label_order
        cols = [order.index(ANY)] if ANY in order else list(range(len(order)))
        cases = self.val_data.items[:, 0]
        case_ids = np.unique(cases)
        case_y = np.array([y[cases == c][:, cols].max() for c in case_ids]) > 0.5
        case_p = np.array([p[cases == c][:, cols].max() for c in case_ids])
        if case_y.all() or not case_y.any():
            return math.nan
        return float(roc_auc(case_y.astype(np.int64), case_p))

    def _end_epoch(self, epoch: int, lr: float, train_loss: float, started: float) -> None:
        val_loss, val_map, val_auc = self.validate()
        plateau_step(self.scheduler, val_loss, self.state, self.recipe.lr_reductions)
        state = self.state
        score = val_map if math.isfinite(val_map) else -math.inf
        if state.best_state is None or score > state.best_map:
            state.best_map, state.best_epoch = score, epoch
            state.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        state.epoch = epoch
        state.history.append(
            {
                "arch": self.arch,
                "epoch": epoch,
                "steps": state.step,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_map": finite_or_none(val_map),
                "val_auc_any": finite_or_none(val_auc),
                "lr": lr,
                "plateaus": state.plateaus,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
        self._save()
        stop = " (plateau after the last LR cut: stop)" if state.stopped else ""
        logger.info(
            "%s epoch %d: train loss %.4f, val loss %.4f, val mAP %.4f, lr %.2g%s",
            *(self.arch, epoch, train_loss, val_loss, val_map, lr, stop),
        )
        if self.progress is not None:
            steps = len(self.sampler)
            self.progress(ProgressEvent(self.arch, epoch, steps, steps, train_loss, val_loss, val_map, lr))

    def fit(self, resume: bool = True) -> tuple[nn.Module, ArchState]:
        """Train until the plateau stop or ``max_epochs``; returns the best-mAP model (eval mode), state.

        A fresh start (nothing resumed) first loads the ImageNet backbone (``init_weights``).
        """
        if not (resume and self.restore()):
            self.init_weights()
        for epoch in range(self.state.epoch + 1, self.recipe.max_epochs + 1):
            if self.state.stopped:
                break
            started = time.monotonic()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss = self.train_epoch(epoch, lr)
            self._end_epoch(epoch, lr, train_loss, started)
        if self.state.best_state is not None:
            self.model.load_state_dict(self.state.best_state)
        return self.model.eval(), self.state
