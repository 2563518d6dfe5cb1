"""The CNNs of paper A (Lee et al.) and B (Lewicki et al.), plus two small nets for CPU demos and tests.

See docs/science.md, "Networks and ensemble".

Every net ends in global average pooling -> fully connected layer (the CPU net ``tiny``: the same FC at every
position, pooled by a smooth maximum, ``log_mean_exp_pool``) and returns **logits** ``z^c``: Grad-CAM
(eq. 5) differentiates the logit before the sigmoid. Callers apply ``torch.sigmoid`` (or ``predict_proba``)
to get the element-wise sigmoid probabilities of the paper.

ImageNet weights (``build_model``; resolution and sources in ``ml.weights``) come from a local file first:
``weights=`` or ``$ICHWEB_IMAGENET_WEIGHTS_DIR/<arch>.pth`` (for ``lewicki`` also ``resnet50.pth``, its
backbone), checked against the ``SHA256SUMS`` beside it when there is one; else from the libraries' own
weights (torchvision's enums, timm's pretrained config) in their caches, downloaded when online. A file is
read with ``torch.load(..., weights_only=True)`` and fills the backbone; the replaced head stays random.

Example::

    >>> model = build_model("tiny", n_outputs=6)  # logs "no ImageNet weights for tiny ..."
    >>> predict_proba(model, torch.zeros(2, 3, 128, 128)).shape
    torch.Size([2, 6])
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ARCHS",
    "ENV_WEIGHTS_DIR",
    "HEADS",
    "INPUT_SIZE",
    "LSE_SHARPNESS",
    "PAPER_ARCHS",
    "TARGET_LAYERS",
    "VGG16GAP",
    "PretrainedWeightsError",
    "TinyCNN",
    "build_architecture",
    "build_model",
    "build_model_with_source",
    "check_backbone_state",
    "get_module",
    "imagenet_file",
    "imagenet_stems",
    "load_backbone_state",
    "load_backbone_weights",
    "log_mean_exp_pool",
    "predict_proba",
    "read_state_dict",
]

logger = logging.getLogger("ml.models")

ENV_WEIGHTS_DIR = "ICHWEB_IMAGENET_WEIGHTS_DIR"

#: The four networks of the paper's ensemble (docs/science.md, "Networks and ensemble").
PAPER_ARCHS: tuple[str, ...] = ("vgg16", "resnet50", "inception_v3", "inception_resnet_v2")
ARCHS: tuple[str, ...] = (*PAPER_ARCHS, "lewicki", "resnet18", "tiny")

INPUT_SIZE: dict[str, int] = {
    "vgg16": 224,
    "resnet50": 224,
    "inception_v3": 299,
    "inception_resnet_v2": 299,
    "lewicki": 224,
    "resnet18": 224,
    "tiny": 128,
}

#: Dotted name of the last convolutional block, whose feature maps ``A_L`` Grad-CAM uses (eq. 5).
#: VGG16: ``features.29`` is relu5_3, the last conv activations (14x14 at 224) before the final max-pool.
TARGET_LAYERS: dict[str, str] = {
    "vgg16": "features.29",
    "resnet50": "layer4",
    "inception_v3": "Mixed_7c",
    "inception_resnet_v2": "conv2d_7b",
    "lewicki": "layer4",
    "resnet18": "layer4",
    "tiny": "features.block4",
}

#: Name of the replaced classifier module: its tensors are never taken from an ImageNet file.
HEADS: dict[str, str] = {
    "vgg16": "classifier",
    "resnet50": "fc",
    "inception_v3": "fc",
    "inception_resnet_v2": "classif",
    "lewicki": "fc",
    "resnet18": "fc",
    "tiny": "fc",
}

_IMAGENET_STEMS: dict[str, tuple[str, ...]] = {"lewicki": ("lewicki", "resnet50")}


class PretrainedWeightsError(ValueError):
    """ImageNet weights that cannot be used: unreadable or truncated, a checksum mismatch, another arch's
    tensors, or none found where the recipe requires them. The message names the file and what to do."""


#: Sharpness ``r`` of ``log_mean_exp_pool`` in the tiny net (``r`` -> 0: the mean, ``r`` -> inf: the max).
LSE_SHARPNESS = 3.0


def _check_sharpness(sharpness: float) -> None:
    if not sharpness > 0:
        raise ValueError(f"sharpness must be > 0, got {sharpness}")


def log_mean_exp_pool(maps: torch.Tensor, sharpness: float | torch.Tensor = LSE_SHARPNESS) -> torch.Tensor:
    """``(N, C, H, W)`` -> ``(N, C)``: ``(1/r) log mean_{ij} exp(r m_ij)``, a smooth maximum over positions.

    Between the mean (global average pooling, ``r`` -> 0) and the maximum (``r`` -> inf) of each map, and
    differentiable everywhere. A lesion covering 1 % of the slice moves the mean by 1 % of its score but the
    smooth maximum by most of it, which is what lets a small net find small lesions from slice labels alone.
    ``sharpness`` may be a 0-d tensor (the net's buffer, checked when it was set, so no device sync here).
    """
    if not isinstance(sharpness, torch.Tensor):
        _check_sharpness(sharpness)
    flat = maps.flatten(2) * sharpness
    return (torch.logsumexp(flat, dim=2) - math.log(flat.shape[2])) / sharpness


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class TinyCNN(nn.Module):
    """A small CNN (four conv blocks, class maps, smooth-max pooling) for the ``lite`` recipe.

    Block 1 is a stride-2 stem convolution, a convolution and a max-pool (1/4 of the input), block 2 a
    convolution and a max-pool (1/8), block 3 one convolution, block 4 a max-pool and one convolution, so the
    Grad-CAM maps of block 4 are 1/16 of the input (8x8 at the native 128). The stride-2 stem halves the
    cost of the full-resolution layers, which dominate a small net's time on a CPU (about 2x the images per
    second of a stride-1 start); the pool before block 4 quarters the cost of its convolution, half of the
    net's multiply-adds at 1/8 (1.3x the images per second, the same detection: docs/detector.md).
    ``map_stride=8`` leaves the pool out (16x16 maps, the net before that change).

    Head: the FC layer is applied at every position of block 4 (a 1x1 convolution with the FC's weights),
    giving one class map per output, and each map is pooled by ``log_mean_exp_pool``. With ``pooling="avg"``
    the maps are averaged instead, which is exactly GAP -> FC (the FC is linear). The smooth maximum departs
    from the paper's GAP head (docs/science.md, "Networks and ensemble"): trained from scratch on a CPU
    budget, the GAP net barely learned the small lesions (docs/detector.md).

    Args:
        n_outputs: number of logits.
        in_channels: input channels (3 for the multi-window RGB of M3).
        widths: output channels of the four blocks (the stem has ``widths[0]``).
        pooling: ``"lse"`` (default) or ``"avg"``.
        map_stride: 16 (default) or 8, the input pixels per class-map position.
        sharpness: ``r`` of ``log_mean_exp_pool`` (``LSE_SHARPNESS``). It is a buffer of the state dict, so
            a bundle carries the ``r`` it was trained with and loading it restores that ``r``.
    """

    def __init__(
        self,
        n_outputs: int = 6,
        in_channels: int = 3,
        widths: tuple[int, int, int, int] = (16, 32, 64, 128),
        pooling: str = "lse",
        map_stride: int = 16,
        sharpness: float = LSE_SHARPNESS,
    ) -> None:
        super().__init__()
        if pooling not in ("lse", "avg"):
            raise ValueError(f"pooling must be 'lse' or 'avg', got {pooling!r}")
        if map_stride not in (8, 16):
            raise ValueError(f"map_stride must be 8 or 16, got {map_stride!r}")
        _check_sharpness(sharpness)
        w1, w2, w3, w4 = widths
        pool4: list[nn.Module] = [nn.MaxPool2d(2)] if map_stride == 16 else []
        blocks: OrderedDict[str, nn.Module] = OrderedDict(
            block1=nn.Sequential(
                *_conv_bn_relu(in_channels, w1, stride=2), *_conv_bn_relu(w1, w1), nn.MaxPool2d(2)
            ),
            block2=nn.Sequential(*_conv_bn_relu(w1, w2), nn.MaxPool2d(2)),
            block3=nn.Sequential(*_conv_bn_relu(w2, w3)),
            block4=nn.Sequential(*pool4, *_conv_bn_relu(w3, w4)),
        )
        self.features = nn.Sequential(blocks)
        self.pooling = pooling
        self.sharpness: torch.Tensor
        self.register_buffer("sharpness", torch.tensor(float(sharpness)))
        self.fc = nn.Linear(w4, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        if self.pooling == "avg":
            return cast(torch.Tensor, self.fc(torch.flatten(features.mean(dim=(2, 3)), 1)))
        maps = F.conv2d(features, self.fc.weight[:, :, None, None], self.fc.bias)
        return log_mean_exp_pool(maps, self.sharpness)


class VGG16GAP(nn.Module):
    """VGG16's convolutional stages (torchvision layout, so ImageNet keys match) -> GAP -> FC.

    Built directly rather than from ``torchvision.models.vgg16``, whose 102M-parameter classifier would be
    initialised only to be thrown away. Its ReLUs are out-of-place so that hooks on a block (Grad-CAM)
    never see their tensor modified in place.
    """

    def __init__(self, n_outputs: int = 6) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        self.features = make_layers(cfgs["D"])
        for module in self.features:
            if isinstance(module, nn.ReLU):
                module.inplace = False
            elif isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                assert module.bias is not None  # make_layers' convolutions have a bias
                nn.init.zeros_(module.bias)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, n_outputs)
        nn.init.normal_(self.classifier.weight, 0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.classifier(torch.flatten(self.avgpool(self.features(x)), 1)))


def _resnet(name: str, n_outputs: int, lewicki: bool = False) -> nn.Module:
    from torchvision.models import resnet18, resnet50

    model = resnet50(weights=None) if name == "resnet50" else resnet18(weights=None)
    n_features = model.fc.in_features
    if lewicki:
        model.fc = nn.Sequential(nn.Linear(n_features, 256), nn.ReLU(), nn.Linear(256, n_outputs))
    else:
        model.fc = nn.Linear(n_features, n_outputs)
    return cast(nn.Module, model)


def _inception_v3(n_outputs: int) -> nn.Module:
    from torchvision.models import inception_v3

    model = inception_v3(weights=None, aux_logits=False, transform_input=False, init_weights=True)
    # The paper's head is GAP -> FC -> sigmoid; torchvision's extra dropout is removed.
    model.dropout = nn.Identity()
    model.fc = nn.Linear(model.fc.in_features, n_outputs)
    return cast(nn.Module, model)


def _inception_resnet_v2(n_outputs: int) -> nn.Module:
    import timm

    return timm.create_model("inception_resnet_v2", pretrained=False, num_classes=n_outputs)


def build_architecture(arch: str, n_outputs: int = 6) -> nn.Module:
    """Build ``arch`` with random weights, no file lookup and no log line (used to reload bundles).

    Heads (docs/science.md, "Networks and ensemble"): GAP -> Linear(features, n_outputs) for every arch,
    except ``lewicki``: ResNet-50 -> GAP -> Linear(2048, 256) -> ReLU -> Linear(256, n_outputs).

    Raises:
        ValueError: unknown arch or ``n_outputs < 1``.
    """
    if n_outputs < 1:
        raise ValueError(f"n_outputs must be >= 1, got {n_outputs}")
    if arch == "vgg16":
        return VGG16GAP(n_outputs)
    if arch in ("resnet50", "resnet18"):
        return _resnet(arch, n_outputs)
    if arch == "lewicki":
        return _resnet("resnet50", n_outputs, lewicki=True)
    if arch == "inception_v3":
        return _inception_v3(n_outputs)
    if arch == "inception_resnet_v2":
        return _inception_resnet_v2(n_outputs)
    if arch == "tiny":
        return TinyCNN(n_outputs)
    raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")


def imagenet_stems(arch: str) -> tuple[str, ...]:
    """File stems searched in the weights folder for ``arch`` (``lewicki``: its own, then ``resnet50``)."""
    return _IMAGENET_STEMS.get(arch, (arch,))


def imagenet_file(arch: str) -> Path | None:
    """``$ICHWEB_IMAGENET_WEIGHTS_DIR/<stem>.pth`` for the first of ``imagenet_stems(arch)`` present."""
    folder = os.environ.get(ENV_WEIGHTS_DIR)
    if not folder:
        return None
    for stem in imagenet_stems(arch):
        path = Path(folder) / f"{stem}.pth"
        if path.is_file():
            return path
    return None


_imagenet_file = imagenet_file


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a state_dict file (``torch.load(weights_only=True)``; ``state_dict``/``model`` opened).

    Raises:
        FileNotFoundError: no file at ``path``.
        PretrainedWeightsError: the file cannot be read (truncated, corrupt, pickled objects), or holds no
            dict; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError... for a bad file
        if isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" in str(exc):
            raise PretrainedWeightsError(
                f"{path} holds pickled Python objects besides tensors: refused, never unpickled; use a plain "
                "state_dict file (python -m ml.weights fetch writes them)"
            ) from None
        detail = (str(exc).strip().splitlines() or [""])[0][:300]
        raise PretrainedWeightsError(
            f"{path} cannot be read as a state_dict ({type(exc).__name__}: {detail}): the file is truncated "
            "or corrupt; delete it and fetch it again (python -m ml.weights fetch)"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict):
        raise PretrainedWeightsError(f"{path} holds a {type(loaded).__name__}, not a state_dict")
    return {k.removeprefix("module."): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}


def check_backbone_state(
    model: nn.Module, arch: str, state: dict[str, torch.Tensor], origin: str
) -> dict[str, torch.Tensor]:
    """The tensors of ``state`` that fill ``model`` but its head (``HEADS[arch]``).

    Raises:
        PretrainedWeightsError: a backbone tensor is missing from ``state`` or has another shape; the message
            names ``origin`` (the file) and ``arch``.
    """
    head = HEADS[arch] + "."
    own = model.state_dict()
    backbone = {k: v for k, v in state.items() if not k.startswith(head)}
    bad = [
        k
        for k, v in own.items()
        if not k.startswith(head)
        and not k.endswith("num_batches_tracked")
        and (k not in backbone or backbone[k].shape != v.shape)
    ]
    if bad:
        raise PretrainedWeightsError(
            f"{origin} is not a {arch} checkpoint: {len(bad)} backbone tensors missing or of another shape, "
            f"e.g. {', '.join(bad[:3])}"
        )
    return {k: v for k, v in backbone.items() if k in own}


def load_backbone_state(
    model: nn.Module, arch: str, state: dict[str, torch.Tensor], origin: str
) -> list[str]:
    """Load ``state`` into every layer of ``model`` but its head; returns the head's tensor names.

    Raises:
        PretrainedWeightsError: ``state`` does not fit ``arch`` (see ``check_backbone_state``).
    """
    model.load_state_dict(check_backbone_state(model, arch, state, origin), strict=False)
    head = HEADS[arch] + "."
    return [k for k in model.state_dict() if k.startswith(head)]


def load_backbone_weights(model: nn.Module, arch: str, path: str | Path) -> list[str]:
    """Load a local state_dict (e.g. ImageNet) into every layer of ``model`` but its head.

    The head (``HEADS[arch]``) always keeps its random initialisation, whatever the file holds.

    Returns:
        The names of the tensors left as initialised (the head's).

    Raises:
        FileNotFoundError: no file at ``path``.
        PretrainedWeightsError (a ValueError): the file cannot be read, or a backbone tensor is missing from
            it or has another shape (not an ``arch`` checkpoint).
    """
    path = Path(path)
    return load_backbone_state(model, arch, read_state_dict(path), str(path))


def build_model_with_source(
    arch: str, n_outputs: int = 6, weights: str | Path | None = None, *, require_pretrained: bool = False
) -> tuple[nn.Module, dict[str, Any] | None]:
    """``build_model`` that also returns where the ImageNet weights came from (None: random start).

    The record (JSON-ready) is ``{"kind": "file" | "torchvision" | "timm", "source", "weights", "file",
    "sha256"}``: see ``ml.weights.load_imagenet_weights``.
    """
    from ml.weights import load_imagenet_weights

    model = build_architecture(arch, n_outputs)
    return model, load_imagenet_weights(model, arch, weights, required=require_pretrained)


def build_model(
    arch: str, n_outputs: int = 6, weights: str | Path | None = None, *, require_pretrained: bool = False
) -> nn.Module:
    """Build one of ``ARCHS`` returning logits, its backbone from ImageNet weights when there are some.

    Paper A: an ImageNet-pretrained CNN whose classifier is replaced by GAP -> FC -> sigmoid
    (the sigmoid is the caller's). ``n_outputs`` is 6 (``LABELS``) from M2 on, 5 (``SUBTYPES``) for M1.

    Args:
        arch: a key of ``INPUT_SIZE``.
        n_outputs: number of logits.
        weights: a local state_dict file for the backbone (nothing else is tried). When None: the file
            ``$ICHWEB_IMAGENET_WEIGHTS_DIR/<arch>.pth``, then the library's ImageNet weights from its cache or
            downloaded (``ml.weights``). Without any the net is randomly initialised and one warning is
            logged on ``ml.models``.
        require_pretrained: raise instead of the random start.

    Raises:
        PretrainedWeightsError: a file or cached download that is unreadable, fails its checksum or is
            another arch's; or no weights while ``require_pretrained``.
    """
    return build_model_with_source(arch, n_outputs, weights, require_pretrained=require_pretrained)[0]


def get_module(model: nn.Module, dotted: str) -> nn.Module:
    """The submodule at a dotted name such as ``"layer4"`` or ``"features.29"`` (see ``TARGET_LAYERS``).

    Raises:
        KeyError: no such submodule; the message names the missing part.
    """
    try:
        return model.get_submodule(dotted)
    except AttributeError as exc:
        raise KeyError(f"{type(model).__name__} has no submodule {dotted!r}: {exc}") from None


def predict_proba(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Element-wise sigmoid probabilities ``p_c = sigmoid(z^c)`` in eval mode, without gradients.

    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return torch.sigmoid(model(images))
    finally:
        model.train(was_training)
