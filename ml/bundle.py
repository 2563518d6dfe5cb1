"""Model bundles: a directory holding trained weights and the facts needed to use them safely.

Layout::

    bundle/
      bundle.json            manifest (below)
      resnet50.safetensors   one weights file per arch (``<arch>.pt`` without safetensors)

``bundle.json``: ``format_version``, ``created`` (UTC ISO 8601), ``recipe`` (the training recipe, free dict),
``archs``, ``label_order`` (``ml.labels.LABELS``, or ``SUBTYPES`` for M1), ``n_outputs``, ``input_size`` and
``degree`` per arch (M4 interpolation degree), ``windowing`` (a preset of ``ml.windowing``),
``thresholds`` per label (the operating point; null where none), ``pretrained`` (arch -> where its
training started: ``{"kind": "file" | "torchvision" | "timm", "source", "weights", "file", "sha256"}`` for
ImageNet weights, null for a random start; archs not recorded are left out), ``weights`` (arch -> file) and
``sha256`` (file -> hex digest) of every file but the manifest itself.

Loading checks every digest, refuses a label order other than the code's (a model whose outputs are read
in the wrong order names the wrong haemorrhage), and never unpickles objects: safetensors holds raw tensors
only, and a ``.pt`` file is read with ``torch.load(weights_only=True)``.

Example::

    >>> save_bundle(tmp, {"tiny": model}, BundleMeta(recipe={"name": "lite"}, windowing="paper"))
    >>> bundle = load_bundle(tmp)
    >>> bundle.models["tiny"](images).shape[1] == len(bundle.label_order)
    True
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ml.interpolation import DEGREE_BY_ARCH, inference_betas
from ml.labels import LABELS, SUBTYPES
from ml.models import INPUT_SIZE, build_architecture
from ml.windowing import RGB_PRESETS, WINDOWS

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "Bundle",
    "BundleError",
    "BundleMeta",
    "check_label_order",
    "file_sha256",
    "load_bundle",
    "save_bundle",
]

FORMAT_VERSION = 1
MANIFEST = "bundle.json"
WeightsFormat = Literal["safetensors", "torch"]
_REQUIRED_KEYS = {
    "archs",
    "label_order",
    "weights",
    "sha256",
    "thresholds",
    "input_size",
    "degree",
    "windowing",
}


class BundleError(ValueError):
    """A bundle that is incomplete, altered, or inconsistent with this code."""


@dataclass(frozen=True)
class BundleMeta:
    """What a bundle records besides the weights.

    Args:
        recipe: the training recipe (JSON-serialisable), e.g. ``{"name": "paper", "step": "M4"}``.
        label_order: the models' output order; must be ``LABELS`` or, for M1, ``SUBTYPES``.
        windowing: preset name of ``ml.windowing`` (an RGB preset or a single window).
        thresholds: label -> operating-point threshold; labels left out (or NaN) are stored as null.
        input_size: arch -> input side in pixels; defaults to ``ml.models.INPUT_SIZE``.
        degree: arch -> M4 inference degree; defaults to ``DEGREE_BY_ARCH``, else 1 (no interpolation).
        pretrained: arch -> the record of its ImageNet start (``ml.weights.load_imagenet_weights``) or None
            (random start); archs left out are "not recorded".
    """

    recipe: Mapping[str, Any] = field(default_factory=dict)
    label_order: tuple[str, ...] = LABELS
    windowing: str = "paper"
    thresholds: Mapping[str, float | None] = field(default_factory=dict)
    input_size: Mapping[str, int] = field(default_factory=dict)
    degree: Mapping[str, int] = field(default_factory=dict)
    pretrained: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: the manifest and one model per arch in eval mode, returning logits."""

    path: Path
    manifest: dict[str, Any]
    models: dict[str, nn.Module]

    @property
    def archs(self) -> list[str]:
        return list(self.manifest["archs"])

    @property
    def label_order(self) -> tuple[str, ...]:
        return tuple(self.manifest["label_order"])

    @property
    def thresholds(self) -> dict[str, float | None]:
        return dict(self.manifest["thresholds"])

    @property
    def input_size(self) -> dict[str, int]:
        return dict(self.manifest["input_size"])

    @property
    def degree(self) -> dict[str, int]:
        return dict(self.manifest["degree"])

    @property
    def windowing(self) -> str:
        return str(self.manifest["windowing"])

    @property
    def recipe(self) -> dict[str, Any]:
        return dict(self.manifest["recipe"])

    @property
    def crop_to_head(self) -> bool:
        """The nets were trained on cases cut to the head box (``ml.crop``); False for older bundles."""
        return bool(self.manifest["recipe"].get("crop_to_head", False))

    @property
    def pretrained(self) -> dict[str, dict[str, Any] | None]:
        """Arch -> its ImageNet start record, or None (random start); {} for bundles that predate it."""
        return dict(self.manifest.get("pretrained", {}))


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safetensors_available() -> bool:
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        return False
    return True


def check_label_order(label_order: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Accept ``LABELS`` or ``SUBTYPES`` only; otherwise say exactly what differs.

    Raises:
        BundleError: any other order; the message names the first differing position.
    """
    order = tuple(label_order)
    if order in (LABELS, SUBTYPES):
        return order
    expected = LABELS if len(order) != len(SUBTYPES) else SUBTYPES
    diffs = [
        f"position {i}: bundle {got!r}, code {want!r}"
        for i, (got, want) in enumerate(zip(order, expected, strict=False))
        if got != want
    ]
    if len(order) != len(expected):
        diffs.append(f"bundle has {len(order)} labels, code {len(expected)}")
    raise BundleError(
        f"label order {list(order)} differs from the code's {list(expected)} ({'; '.join(diffs)}): "
        "outputs would be read as the wrong haemorrhage"
    )


def _thresholds(meta: BundleMeta) -> dict[str, float | None]:
    unknown = set(meta.thresholds) - set(meta.label_order)
    if unknown:
        raise BundleError(f"thresholds for labels not in the label order: {sorted(unknown)}")
    out: dict[str, float | None] = {}
    for label in meta.label_order:
        value = meta.thresholds.get(label)
        out[label] = None if value is None or math.isnan(value) else float(value)
    return out


def _manifest(models: Mapping[str, nn.Module], meta: BundleMeta) -> dict[str, Any]:
    label_order = check_label_order(meta.label_order)
    if meta.windowing not in RGB_PRESETS and meta.windowing not in WINDOWS:
        raise BundleError(f"unknown windowing preset {meta.windowing!r}")
    for arch in models:
        if arch not in INPUT_SIZE:
            raise BundleError(f"unknown arch {arch!r}")
    degree = {arch: int(meta.degree.get(arch, DEGREE_BY_ARCH.get(arch, 1))) for arch in models}
    for d in degree.values():
        inference_betas(d)
    unknown = set(meta.pretrained) - set(models)
    if unknown:
        raise BundleError(f"pretrained records for archs not in the bundle: {sorted(unknown)}")
    pretrained = {
        arch: (dict(record) if (record := meta.pretrained[arch]) is not None else None)
        for arch in models
        if arch in meta.pretrained
    }
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recipe": dict(meta.recipe),
        "archs": list(models),
        "label_order": list(label_order),
        "n_outputs": len(label_order),
        "input_size": {arch: int(meta.input_size.get(arch, INPUT_SIZE[arch])) for arch in models},
        "degree": degree,
        "windowing": meta.windowing,
        "thresholds": _thresholds(meta),
        "pretrained": pretrained,
    }


def save_bundle(
    directory: str | Path,
    models: Mapping[str, nn.Module],
    meta: BundleMeta,
    weights_format: WeightsFormat | None = None,
) -> Path:
    """Write ``models`` and ``meta`` as a bundle into ``directory`` (created if needed).

    Args:
        directory: target folder; existing files of the same names are overwritten.
        models: arch -> trained model (built by ``ml.models``).
        meta: recipe, label order, windowing, thresholds, and optional per-arch overrides.
        weights_format: ``"safetensors"`` (default when the package is importable) or ``"torch"``.

    Returns:
        The path of ``bundle.json``.
    """
    if not models:
        raise BundleError("a bundle needs at least one model")
    manifest = _manifest(models, meta)
    fmt = weights_format or ("safetensors" if _safetensors_available() else "torch")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    weights: dict[str, str] = {}
    for arch, model in models.items():
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        if fmt == "safetensors":
            from safetensors.torch import save_file

            name = f"{arch}.safetensors"
            save_file(state, str(folder / name), metadata={"arch": arch})
        else:
            name = f"{arch}.pt"
            torch.save(state, folder / name)
        weights[arch] = name
    manifest["weights"] = weights
    manifest["sha256"] = {name: file_sha256(folder / name) for name in weights.values()}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"{path} not found: not a model bundle")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"bundle format {manifest.get('format_version')!r}; this code reads {FORMAT_VERSION}"
        )
    missing = _REQUIRED_KEYS - set(manifest)
    if missing:
        raise BundleError(f"{path} lacks {sorted(missing)}")
    return manifest


def _verify_files(folder: Path, manifest: dict[str, Any]) -> None:
    for name, expected in manifest["sha256"].items():
        if Path(name).name != name or name in ("", ".", ".."):
            raise BundleError(f"file name {name!r} in {MANIFEST} is not a plain file name")
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{name} is listed in {MANIFEST} but missing")
        found = file_sha256(path)
        if found != expected:
            raise BundleError(
                f"{name} changed since the bundle was saved (sha256 {found}, expected {expected})"
            )
    for arch in manifest["archs"]:
        if manifest["weights"].get(arch) not in manifest["sha256"]:
            raise BundleError(f"no checksummed weights file for {arch}")


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise BundleError(f"{path.name} is not a safetensors file, refused: {exc}") from None
    elif path.suffix == ".pt":
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, OSError, ValueError) as exc:
            raise BundleError(f"{path.name} is not a plain tensor file, refused: {exc}") from None
    else:
        raise BundleError(f"{path.name}: weights must be .safetensors or .pt")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BundleError(f"{path.name} does not hold a state_dict of tensors")
    return state


def _check_input_sizes(folder: Path, manifest: dict[str, Any]) -> None:
    """Refuse a manifest whose input sizes differ from the ones its recipe trained the nets at.

    A net with global pooling runs at any size, so a hand-edited ``input_size`` would not fail: it would
    predict quietly worse. The recipe the bundle records says what the nets saw in training.
    """
    recipe = manifest.get("recipe") or {}
    if "input_size" not in recipe:
        return  # a bundle from before recipes were recorded: nothing to compare with
    for arch in manifest["archs"]:
        trained = int(recipe["input_size"] or INPUT_SIZE[arch])
        stated = int(manifest["input_size"].get(arch, trained))
        if stated != trained:
            raise BundleError(
                f"{folder / MANIFEST}: input_size of {arch} is {stated} px but its recipe trained it at "
                f"{trained} px; restore input_size {trained} (a net loaded at another size predicts worse)"
            )


def load_bundle(directory: str | Path) -> Bundle:
    """Read a bundle written by ``save_bundle``: verify it, rebuild each arch, load its weights (eval mode).

    Raises:
        BundleError: missing or malformed manifest, a file whose sha256 changed (named), a label order that
            differs from ``ml.labels`` (what differs is named), a weights file that is not plain tensors
            (pickled objects are refused), weights that do not fit the arch, or an input size other than
            the one the recipe trained the net at.
    """
    folder = Path(directory)
    manifest = _read_manifest(folder)
    check_label_order(manifest["label_order"])
    _verify_files(folder, manifest)
    _check_input_sizes(folder, manifest)
    n_outputs = len(manifest["label_order"])
    models: dict[str, nn.Module] = {}
    for arch in manifest["archs"]:
        name = manifest["weights"][arch]
        state = _read_state(folder / name)
        try:
            model = build_architecture(arch, n_outputs)
            model.load_state_dict(state, strict=True)
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{name} does not fit {arch} with {n_outputs} outputs: {exc}") from None
        models[arch] = model.eval()
    return Bundle(path=folder, manifest=manifest, models=models)
