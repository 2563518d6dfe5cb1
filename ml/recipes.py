"""Training recipes: the ablation steps of Fig. 3 and the named recipes (docs/science.md, "Ablation steps
M1-M4").

``StepConfig`` holds the switches of the ablation; ``STEPS`` the paper's cumulative steps M1..M4. A
``Recipe`` adds the networks, optimiser, schedule and sizes. ``RECIPES``:

* ``paper`` (paper A): the four ``PAPER_ARCHS`` at their native sizes, M4, SGD with Nesterov
  momentum 0.9, LR 1e-3, weight decay 5e-5, batch 64, LR x0.1 three times on validation-loss plateaus.
  Its nets must start from ImageNet weights (``require_pretrained``; ``allow_random_init`` waives it).
* ``lewicki`` (paper B): ResNet-50 with the 256-unit head, windows brain/subdural/bone, 6 outputs, no
  interpolation or augmentation, Adam 1e-5, batch 16, 10 epochs at a constant LR, class weights
  [1, 2, 1, 1, 1, 1] (epidural x2, ``ml.losses.lewicki_class_weights`` maps them to ``LABELS`` order).
* ``lite`` (ours, for a CPU; docs/detector.md says why each choice): the ``tiny`` CNN (8x8 class maps,
  smooth-max head) at 128 px on the case cropped to the head, M4, Adam with a one-cycle schedule peaking at
  4e-3, batch 32 with half the images positive for a subtype drawn uniformly (``balanced``), 5 epochs of
  200 steps: about 5 minutes on one CPU core, and it learns on a few hundred phantom cases.

Example::

    >>> recipe = RECIPES["paper"].with_(step=STEPS["M2"])     # re-run the ablation at M2
    >>> recipe.windowing_for_step(), recipe.n_outputs
    ('brain', 6)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ml.interpolation import DEGREE_BY_ARCH, inference_betas
from ml.labels import LABELS, SUBTYPES
from ml.models import ARCHS, INPUT_SIZE, PAPER_ARCHS
from ml.preprocess import windowing_names

__all__ = ["RECIPES", "STEPS", "Recipe", "StepConfig"]

Optimizer = Literal["sgd", "adam"]
LossWeights = Literal["eq2", "lewicki"]
Sampling = Literal["shuffle", "balanced"]
Schedule = Literal["plateau", "onecycle"]
DevicePreprocess = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class StepConfig:
    """The ablation switches of Fig. 3 (docs/science.md, "Ablation steps M1-M4").

    Args:
        name: label of the step (``"M1"`` .. ``"M4"`` or a custom name).
        any_output: the sixth "any ICH" output (M2); without it the nets have the five subtype outputs.
        weighted_bce: the weighted BCE of eq. 2 with the weights of eq. 3 (M2); else plain BCE.
        multi_window: the recipe's RGB window preset (M3, ``paper``: tissue/brain/blood); else the single
            ``brain`` window repeated on three channels.
        interpolation: slice interpolation (M4): training adds the interpolated images, inference uses
            the arch's interpolation degree.
        augmentation: real-time augmentation (M4): rotation, scale, translation, noise (``ml.augment``).
    """

    name: str = "M4"
    any_output: bool = True
    weighted_bce: bool = True
    multi_window: bool = True
    interpolation: bool = True
    augmentation: bool = True

    @property
    def n_outputs(self) -> int:
        """6 (``LABELS``) with the "any" output, else 5 (``SUBTYPES``, M1)."""
        return len(self.label_order)

    @property
    def label_order(self) -> tuple[str, ...]:
        return LABELS if self.any_output else SUBTYPES


#: The paper's cumulative steps: each adds its switches to the previous one.
STEPS: dict[str, StepConfig] = {
    "M1": StepConfig("M1", False, False, False, False, False),
    "M2": StepConfig("M2", True, True, False, False, False),
    "M3": StepConfig("M3", True, True, True, False, False),
    "M4": StepConfig("M4", True, True, True, True, True),
}

_DEFAULT_LR: dict[str, float] = {"sgd": 1e-3, "adam": 1e-5}
_DEFAULT_WEIGHT_DECAY: dict[str, float] = {"sgd": 5e-5, "adam": 0.0}


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run (docs/science.md, "Training and model selection").

    Args:
        name: recipe name, stored in the bundle.
        archs: networks to train (keys of ``ml.models.INPUT_SIZE``); the bundle ensembles them.
        step: ablation switches (``STEPS``).
        input_size: one input side for every arch; None = each arch's native ``INPUT_SIZE``.
        optimizer: ``"sgd"`` (Nesterov, ``momentum``) or ``"adam"``.
        lr: base learning rate; None = 1e-3 for SGD, 1e-5 for Adam.
        momentum: SGD momentum.
        weight_decay: None = 5e-5 for SGD, 0 for Adam.
        batch_size: images per optimisation step (original and interpolated images alike).
        loss_weights: None follows the step (eq. 2-3 when ``step.weighted_bce``, else plain BCE);
            ``"eq2"`` forces eq. 2-3; ``"lewicki"`` uses Lewicki et al.'s per-class weights.
        max_epochs: hard cap on epochs.
        patience: epochs without validation-loss improvement tolerated; the next one is a plateau
            (``ReduceLROnPlateau``). None = constant LR for ``max_epochs`` (Lewicki).
        lr_reductions: LR x0.1 this many times on plateaus; the next plateau stops training.
        seed: seeds python, numpy and torch, and every random draw of the data pipeline.
        windowing: RGB preset used when ``step.multi_window`` (``ml.windowing.RGB_PRESETS``).
        single_window: window used otherwise (M1, M2).
        target_sensitivity: case-level validation sensitivity of the operating point per class.
        degree: arch -> M4 inference degree; default ``DEGREE_BY_ARCH``, else 3 (1 without interpolation).
        max_steps_per_epoch: cap on optimisation steps per epoch (tests, quick demos); None = all data.
        num_workers: DataLoader workers; None = 0 on CPU, up to 8 on CUDA.
        progress_every: steps between progress events (and at every epoch end).
        require_pretrained: every net must start from ImageNet weights (``ml.weights``); training stops with
            an error when some are missing instead of starting from random weights.
        allow_random_init: waive ``require_pretrained`` for this run (one warning per net instead).
        sampling: ``"shuffle"`` (the paper: every item once per epoch, in random order) or ``"balanced"``:
            ``positive_fraction`` of each batch are slices positive for a subtype drawn uniformly among the
            subtypes, the rest drawn from all items (``ml.slices.SliceBatchSampler``). Eq. 3 then counts the
            label rates the net is shown, not those of the training set.
        positive_fraction: share of subtype-positive images per batch with ``"balanced"`` sampling.
        schedule: ``"plateau"`` (the paper: LR x0.1 on validation-loss plateaus, ``patience``,
            ``lr_reductions``) or ``"onecycle"``: warm-up to ``lr`` over the first 15 % of the
            ``max_epochs x max_steps_per_epoch`` steps, then cosine annealing to ~0 (``OneCycleLR``).
        crop_to_head: cut each case to the square around the head (``ml.crop.head_box``) before
            resizing, in training and inference alike, so the input pixels go to the head, not the air.
        cache_images: keep the training cases' network-ready slices in memory (``ml.slices.SliceDataset``):
            about twice the images per second on a CPU, at ~5 MB per case at 128 px (small inputs only).
        device_preprocess: where the training images are windowed, mixed, resized, normalised and augmented:
            ``"off"`` in the DataLoader workers (``ml.slices.SliceDataset``); ``"on"`` on the training
            device, the workers sending only the int16 HU and the draws (``ml.gpu_batch``; the same images
            to float rounding, and ``cache_images`` is not used); ``"auto"``: on when training on CUDA.
    """

    name: str
    archs: tuple[str, ...]
    step: StepConfig = STEPS["M4"]
    input_size: int | None = None
    optimizer: Optimizer = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    batch_size: int = 64
    loss_weights: LossWeights | None = None
    max_epochs: int = 100
    patience: int | None = 3
    lr_reductions: int = 3
    seed: int = 0
    windowing: str = "paper"
    single_window: str = "brain"
    target_sensitivity: float = 0.95
    degree: Mapping[str, int] = field(default_factory=dict)
    max_steps_per_epoch: int | None = None
    num_workers: int | None = None
    progress_every: int = 10
    require_pretrained: bool = False
    allow_random_init: bool = False
    sampling: Sampling = "shuffle"
    positive_fraction: float = 0.5
    schedule: Schedule = "plateau"
    crop_to_head: bool = False
    cache_images: bool = False
    device_preprocess: DevicePreprocess = "auto"

    def __post_init__(self) -> None:
        if not self.archs:
            raise ValueError("a recipe needs at least one arch")
        for arch in self.archs:
            if arch not in ARCHS:
                raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")
        if self.optimizer not in _DEFAULT_LR:
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.loss_weights not in (None, "eq2", "lewicki"):
            raise ValueError(f"loss_weights must be None, 'eq2' or 'lewicki', got {self.loss_weights!r}")
        for name in (self.windowing, self.single_window):
            if name not in windowing_names():
                raise ValueError(f"unknown windowing {name!r}; valid: {', '.join(windowing_names())}")
        if self.batch_size < 1 or self.max_epochs < 0 or self.lr_reductions < 0:
            raise ValueError("batch_size must be >= 1, max_epochs and lr_reductions >= 0")
        if self.patience is not None and self.patience < 0:
            raise ValueError(f"patience must be >= 0 or None, got {self.patience}")
        for name in ("require_pretrained", "allow_random_init"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.sampling not in ("shuffle", "balanced"):
            raise ValueError(f"sampling must be 'shuffle' or 'balanced', got {self.sampling!r}")
        if not 0 < self.positive_fraction <= 1:
            raise ValueError(f"positive_fraction must be in (0, 1], got {self.positive_fraction}")
        if self.schedule not in ("plateau", "onecycle"):
            raise ValueError(f"schedule must be 'plateau' or 'onecycle', got {self.schedule!r}")
        if self.schedule == "onecycle" and (self.max_steps_per_epoch is None or self.max_epochs < 1):
            raise ValueError("the onecycle schedule needs max_steps_per_epoch and max_epochs >= 1")
        for name in ("crop_to_head", "cache_images"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.device_preprocess not in ("auto", "on", "off"):
            raise ValueError(
                f"device_preprocess must be 'auto', 'on' or 'off', got {self.device_preprocess!r}"
            )
        if not 0 < self.target_sensitivity <= 1:
            raise ValueError(f"target_sensitivity must be in (0, 1], got {self.target_sensitivity}")
        for arch in self.archs:
            inference_betas(self.degree_for(arch))
        object.__setattr__(self, "archs", tuple(self.archs))
        object.__setattr__(self, "degree", dict(self.degree))

    def with_(self, **changes: Any) -> Recipe:
        """A copy with some fields replaced (``step`` may be given as ``"M1"`` .. ``"M4"``)."""
        if isinstance(changes.get("step"), str):
            changes["step"] = STEPS[changes["step"]]
        return dataclasses.replace(self, **changes)

    @property
    def n_outputs(self) -> int:
        return self.step.n_outputs

    @property
    def label_order(self) -> tuple[str, ...]:
        return self.step.label_order

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else _DEFAULT_LR[self.optimizer]

    @property
    def decay(self) -> float:
        return self.weight_decay if self.weight_decay is not None else _DEFAULT_WEIGHT_DECAY[self.optimizer]

    @property
    def needs_pretrained(self) -> bool:
        """Every net must start from ImageNet: ``require_pretrained`` and not ``allow_random_init``."""
        return self.require_pretrained and not self.allow_random_init

    def windowing_for_step(self) -> str:
        """The window preset the step uses: the RGB preset with M3's multi-window, else ``single_window``."""
        return self.windowing if self.step.multi_window else self.single_window

    def loss_kind(self) -> str:
        """``"bce"``, ``"eq2"`` or ``"lewicki"``: see ``loss_weights``."""
        if self.loss_weights is not None:
            return self.loss_weights
        return "eq2" if self.step.weighted_bce else "bce"

    def size_for(self, arch: str) -> int:
        return self.input_size or INPUT_SIZE[arch]

    def degree_for(self, arch: str) -> int:
        """M4 inference degree of ``arch`` (1, no interpolation, when the step has none)."""
        if not self.step.interpolation:
            return 1
        return int(self.degree.get(arch, DEGREE_BY_ARCH.get(arch, 3)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, plus ``effective_*``: the LR, weight decay, windowing and loss in use."""
        out = dataclasses.asdict(self)
        out["archs"] = list(self.archs)
        out.update(
            effective_lr=self.base_lr,
            effective_weight_decay=self.decay,
            effective_windowing=self.windowing_for_step(),
            effective_loss=self.loss_kind(),
        )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """Inverse of ``to_dict`` (derived keys are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["archs"] = tuple(values["archs"])
        if isinstance(values.get("step"), Mapping):
            values["step"] = StepConfig(**values["step"])
        return cls(**values)


RECIPES: dict[str, Recipe] = {
    "paper": Recipe(name="paper", archs=PAPER_ARCHS, require_pretrained=True),
    "lewicki": Recipe(
        name="lewicki",
        archs=("lewicki",),
        step=StepConfig("lewicki", True, False, True, False, False),
        optimizer="adam",
        batch_size=16,
        loss_weights="lewicki",
        max_epochs=10,
        patience=None,
        windowing="lewicki",
    ),
    "lite": Recipe(
        name="lite",
        archs=("tiny",),
        input_size=128,
        optimizer="adam",
        lr=4e-3,
        weight_decay=5e-5,
        batch_size=32,
        max_epochs=5,
        patience=None,
        max_steps_per_epoch=200,
        sampling="balanced",
        positive_fraction=0.5,
        schedule="onecycle",
        crop_to_head=True,
        cache_images=True,
    ),
}
