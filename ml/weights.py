"""ImageNet weights of the nets: the libraries' own weights, a local folder, fetching ahead, checking.

Sources (``LIBRARY_WEIGHTS``), downloaded by the libraries' own code into their own caches (torchvision:
the torch hub cache ``$TORCH_HOME/hub/checkpoints``; timm: the Hugging Face cache ``$HF_HOME/hub``):

===================  ===================================================
arch                 weights
===================  ===================================================
vgg16                torchvision ``VGG16_Weights.IMAGENET1K_V1``
resnet50, lewicki    torchvision ``ResNet50_Weights.IMAGENET1K_V1``
inception_v3         torchvision ``Inception_V3_Weights.IMAGENET1K_V1``
inception_resnet_v2  timm ``inception_resnet_v2.tf_in1k``
resnet18             torchvision ``ResNet18_Weights.IMAGENET1K_V1``
tiny                 none: always a random start
===================  ===================================================

ResNet-50 takes ``IMAGENET1K_V1`` (76.1 % top-1, the original ResNet training), not ``V2`` (80.9 %, a long
modern recipe with heavy augmentation and regularisation): the published ICH models fine-tuned the classic
ImageNet ResNet-50 of their time, whose torchvision counterpart is V1. VGG16 and Inception-v3 have one
ImageNet set each in torchvision; ``tf_in1k`` is timm's port of the original TensorFlow Inception-ResNet-v2.

Resolution (``load_imagenet_weights``, used by ``ml.models.build_model`` and the trainer):

1. ``weights=`` (that file only), else ``$ICHWEB_IMAGENET_WEIGHTS_DIR/<arch>.pth`` (``lewicki``: also
   ``resnet50.pth``). When the folder has a ``SHA256SUMS`` listing the file, its digest must match, else the
   file is refused (``PretrainedWeightsError`` naming the file and what to do).
2. The library's weights: torchvision's ``Weights.get_state_dict(progress=True, check_hash=True)``, timm's
   ``create_model(..., pretrained=True)``. A cached file is read without the network; otherwise the library
   downloads it (its progress bar) unless ``ICHWEB_IMAGENET_DOWNLOAD=0``. An unreadable cached file is
   refused with its path (delete it, or re-fetch).
3. Nothing found (offline, downloads off, or no weights for the arch): one warning on ``ml.models`` and a
   random start, or ``PretrainedWeightsError`` when the caller requires pretrained weights (the ``paper``
   recipe, unless ``allow_random_init``).

A file or a download holding another arch's tensors is refused with its name and the arch. The record of
what was loaded (``{"kind", "source", "weights", "file", "sha256"}``) goes with the training result into the
bundle manifest (``pretrained``).

Air-gapped sites fetch on an online machine and copy the folder (command line: ``ml.cli.weights``)::

    python -m ml.weights fetch --dest DIR [--arch vgg16 ...]   # <arch>.pth, SHA256SUMS, weights.json
    python -m ml.weights verify DIR                             # digests and tensor shapes
    export ICHWEB_IMAGENET_WEIGHTS_DIR=DIR
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO, cast
from urllib.parse import urlparse

import torch
from torch import nn

from ml.bundle import file_sha256
from ml.models import (
    ENV_WEIGHTS_DIR,
    PAPER_ARCHS,
    PretrainedWeightsError,
    build_architecture,
    check_backbone_state,
    imagenet_file,
    imagenet_stems,
    load_backbone_state,
    read_state_dict,
)

__all__ = [
    "DEFAULT_DEST",
    "ENV_DOWNLOAD",
    "FETCH_ARCHS",
    "LIBRARY_WEIGHTS",
    "ORIGINS_FILE",
    "SUMS_FILE",
    "LibraryWeights",
    "PretrainedWeightsError",
    "downloads_enabled",
    "fetch",
    "library_state_dict",
    "load_imagenet_weights",
    "read_sums",
    "verify",
]

logger = logging.getLogger("ml.models")

ENV_DOWNLOAD = "ICHWEB_IMAGENET_DOWNLOAD"
SUMS_FILE = "SHA256SUMS"
ORIGINS_FILE = "weights.json"
DEFAULT_DEST = Path("imagenet_weights")
_HOWTO = (
    "to use ImageNet weights go online, or run `python -m ml.weights fetch --dest DIR` on an online "
    f"machine, copy DIR here and set {ENV_WEIGHTS_DIR}=DIR"
)
_ALLOW = (
    "or allow a random start (python -m ml.train --allow-random-init, or the recipe override "
    "allow_random_init)"
)


@dataclass(frozen=True)
class LibraryWeights:
    """A library's ImageNet weights, e.g. ``("torchvision", "ResNet50_Weights.IMAGENET1K_V1")``."""

    library: Literal["torchvision", "timm"]
    name: str

    def __str__(self) -> str:
        return f"{self.library} {self.name}"


LIBRARY_WEIGHTS: dict[str, LibraryWeights] = {
    "vgg16": LibraryWeights("torchvision", "VGG16_Weights.IMAGENET1K_V1"),
    "resnet50": LibraryWeights("torchvision", "ResNet50_Weights.IMAGENET1K_V1"),
    "inception_v3": LibraryWeights("torchvision", "Inception_V3_Weights.IMAGENET1K_V1"),
    "inception_resnet_v2": LibraryWeights("timm", "inception_resnet_v2.tf_in1k"),
    "lewicki": LibraryWeights("torchvision", "ResNet50_Weights.IMAGENET1K_V1"),
    "resnet18": LibraryWeights("torchvision", "ResNet18_Weights.IMAGENET1K_V1"),
}
#: What ``fetch`` can write (``lewicki`` reads ``resnet50.pth``).
FETCH_ARCHS: tuple[str, ...] = (*PAPER_ARCHS, "resnet18")


class _Unavailable(Exception):
    """The library's weights are neither cached nor downloadable now (offline, downloads off)."""


def downloads_enabled() -> bool:
    """False when ``$ICHWEB_IMAGENET_DOWNLOAD`` is 0/false/no/off: only cached library files are used."""
    return os.environ.get(ENV_DOWNLOAD, "1").strip().lower() not in ("0", "false", "no", "off")


def _short(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _torchvision_cache_file(url: str) -> Path:
    # Where torch.hub.load_state_dict_from_url keeps the file of ``url``.
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _timm_cache_file(name: str) -> Path | None:
    """The Hugging Face cache file of timm's pretrained ``name`` when it was downloaded, else None."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    if cfg is None:
        raise ValueError(f"timm has no pretrained config {name!r}")
    if not cfg.hf_hub_id:
        # The stubs allow a (url, ...) tuple; timm downloads url as one string, as this does.
        return _torchvision_cache_file(cast(str, cfg.url)) if cfg.url else None
    from huggingface_hub import try_to_load_from_cache

    repo, _, revision = cfg.hf_hub_id.partition("@")
    names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
    for filename in names:
        found = try_to_load_from_cache(repo, filename, revision=revision or None)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def _failure(spec: LibraryWeights, cached: Path | None, exc: Exception) -> Exception:
    """The exception for a failed library load: a bad cached file, offline (``_Unavailable``), or else."""
    if cached is not None and cached.is_file():
        return PretrainedWeightsError(
            f"{cached}: the cached download of {spec} cannot be read ({_short(exc)}); it is corrupt or "
            "truncated: delete it and run again to download it anew (or python -m ml.weights fetch)"
        )
    if isinstance(exc, OSError):  # URLError, connection errors, huggingface_hub's LocalEntryNotFoundError
        return _Unavailable(f"{spec} could not be downloaded ({_short(exc)})")
    return PretrainedWeightsError(f"the download of {spec} failed ({_short(exc)}); run again")


def library_state_dict(
    spec: LibraryWeights, *, download: bool | None = None
) -> tuple[dict[str, torch.Tensor], Path | None]:
    """The library's ImageNet state_dict and its cache file (None when unknown), by the library's own code.

    Args:
        spec: the weights.
        download: allow a download when the file is not cached; None = ``downloads_enabled()``.

    Raises:
        _Unavailable: not cached, and the download is off or failed for want of a network.
        PretrainedWeightsError: the cached file cannot be read (named), or the download failed otherwise
            (e.g. the library's hash check).
    """
    allowed = downloads_enabled() if download is None else download
    if spec.library == "torchvision":
        from torchvision.models import get_weight

        weights = get_weight(spec.name)
        cached = _torchvision_cache_file(weights.url)
        if not cached.is_file() and not allowed:
            raise _Unavailable(
                f"{spec} is not in the torch hub cache ({cached.parent}) and downloads are off "
                f"({ENV_DOWNLOAD}=0)"
            )
        try:
            state = weights.get_state_dict(
                progress=True, check_hash=True, map_location="cpu", weights_only=True
            )
        except Exception as exc:
            raise _failure(spec, cached, exc) from None
        return state, cached
    import timm

    cached_or_none = _timm_cache_file(spec.name)
    if cached_or_none is None and not allowed:
        raise _Unavailable(
            f"{spec} is not in the Hugging Face cache and downloads are off ({ENV_DOWNLOAD}=0)"
        )
    overlay = {"file": str(cached_or_none)} if cached_or_none is not None else None
    try:
        # timm builds (and randomly initialises) the model before loading: keep the caller's RNG untouched.
        with torch.random.fork_rng(devices=[]):
            model = timm.create_model(spec.name, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as exc:
        raise _failure(spec, cached_or_none or _timm_cache_file(spec.name), exc) from None
    return dict(model.state_dict()), cached_or_none or _timm_cache_file(spec.name)


def read_sums(path: Path) -> dict[str, str]:
    """``SHA256SUMS`` (``sha256sum`` format: ``<hex>  <name>`` or ``<hex> *<name>``) as name -> hex digest.

    Raises:
        PretrainedWeightsError: a line that is not a digest and a name (its number is named).
    """
    table: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.rstrip())
        if match is None:
            raise PretrainedWeightsError(f"{path}, line {number}: not '<sha256>  <file name>': {line[:80]!r}")
        table[match.group(2)] = match.group(1).lower()
    return table


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _checked_digest(path: Path) -> str:
    """The file's sha256, checked against the ``SHA256SUMS`` beside it when that lists it."""
    digest = file_sha256(path)
    sums = path.parent / SUMS_FILE
    if not sums.is_file():
        return digest
    expected = read_sums(sums).get(path.name)
    if expected is None:
        logger.warning("%s is not listed in %s: its checksum is not checked", path, sums)
    elif expected != digest:
        raise PretrainedWeightsError(
            f"{path}: sha256 {digest} differs from {expected} in {sums}: the file is corrupt, truncated or "
            f"was replaced; fetch it again (python -m ml.weights fetch --dest {path.parent} --arch "
            f"{path.stem}) or, if this file is the right one, correct {sums}"
        )
    return digest


def _origins(folder: Path) -> dict[str, Any]:
    path = folder / ORIGINS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _load_file(model: nn.Module, arch: str, path: Path) -> dict[str, Any]:
    digest = _checked_digest(path)
    load_backbone_state(model, arch, read_state_dict(path), str(path))
    origin = _origins(path.parent).get(path.name)
    weights = origin.get("weights") if isinstance(origin, dict) else None
    resolved = str(path.resolve())
    logger.info("ImageNet weights for %s loaded from %s (head randomly initialised)", arch, path)
    return {"kind": "file", "source": resolved, "weights": weights, "file": resolved, "sha256": digest}


def load_imagenet_weights(
    model: nn.Module, arch: str, weights: str | Path | None = None, *, required: bool = False
) -> dict[str, Any] | None:
    """Fill ``model``'s backbone (an ``arch`` from ``build_architecture``) with ImageNet weights (module doc).

    Args:
        model: the freshly built net; its head keeps its random initialisation.
        arch: its arch.
        weights: a local file (nothing else is tried); None = the folder, then the library.
        required: raise instead of the random start when nothing is found.

    Returns:
        ``{"kind": "file" | "torchvision" | "timm", "source": file path or library weights name, "weights":
        library weights name (for a fetched file, from ``weights.json``; else None), "file": the file read
        (None when unknown), "sha256": its digest (None when unknown)}``; None for a random start.

    Raises:
        FileNotFoundError: ``weights`` is not a file.
        PretrainedWeightsError: a file or cached download that is unreadable, fails its ``SHA256SUMS`` or
            does not fit ``arch`` (all named), or nothing found while ``required``.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"no weights file at {path}")
        return _load_file(model, arch, path)
    local = imagenet_file(arch)
    if local is not None:
        return _load_file(model, arch, local)
    folder = os.environ.get(ENV_WEIGHTS_DIR)
    names = " or ".join(f"{stem}.pth" for stem in imagenet_stems(arch))
    where = f"no {names} in {ENV_WEIGHTS_DIR}={folder}" if folder else f"{ENV_WEIGHTS_DIR} unset"
    spec = LIBRARY_WEIGHTS.get(arch)
    if spec is None:
        reason = f"{where}; torchvision and timm have no ImageNet weights for {arch}"
        howto = f"set {ENV_WEIGHTS_DIR} to a folder holding {arch}.pth, or pass weights="
    else:
        howto = _HOWTO
        try:
            state, cached = library_state_dict(spec)
        except _Unavailable as exc:
            reason = f"{where}; {exc}"
        else:
            origin = f"{spec} ({cached})" if cached is not None else str(spec)
            load_backbone_state(model, arch, state, origin)
            digest = file_sha256(cached) if cached is not None and cached.is_file() else None
            logger.info("ImageNet weights for %s: %s (head randomly initialised)", arch, origin)
            return {
                "kind": spec.library,
                "source": str(spec),
                "weights": str(spec),
                "file": str(cached) if cached is not None else None,
                "sha256": digest,
            }
    if required:
        raise PretrainedWeightsError(
            f"{arch} must start from ImageNet weights, but none were found ({reason}); {howto}; {_ALLOW}"
        )
    logger.warning("no ImageNet weights for %s (%s): random initialisation; %s", arch, reason, howto)
    return None


def fetch(
    dest: str | Path, archs: Sequence[str] = PAPER_ARCHS, *, log: TextIO | None = None
) -> dict[str, str]:
    """Download (or take from the library caches) each arch's ImageNet weights into ``dest/<arch>.pth``.

    Each state_dict is checked against its arch, saved as plain tensors, and entered in ``dest/SHA256SUMS``
    and ``dest/weights.json`` (library weights name, date, digest) as soon as it is written; other entries of
    those files are kept.

    Returns:
        File name -> sha256 of the files written.

    Raises:
        ValueError: an arch without library weights.
        PretrainedWeightsError: a download that failed or does not fit its arch.
    """
    out = log if log is not None else sys.stderr
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for arch in archs:
        if arch not in FETCH_ARCHS:
            raise ValueError(f"cannot fetch {arch!r}; valid: {', '.join(FETCH_ARCHS)}")
        spec = LIBRARY_WEIGHTS[arch]
        print(f"{arch}: {spec}", file=out, flush=True)
        try:
            state, cached = library_state_dict(spec, download=True)
        except _Unavailable as exc:
            raise PretrainedWeightsError(f"cannot fetch {arch}: {exc}") from None
        with torch.device("meta"):
            skeleton = build_architecture(arch)
        check_backbone_state(skeleton, arch, state, f"{spec} ({cached})")
        name = f"{arch}.pth"
        tmp = folder / f".{name}.tmp"
        torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, tmp)
        os.replace(tmp, folder / name)
        digest = file_sha256(folder / name)
        written[name] = digest
        sums_path = folder / SUMS_FILE
        sums = read_sums(sums_path) if sums_path.is_file() else {}
        sums[name] = digest
        _write_atomic(sums_path, "".join(f"{sums[n]}  {n}\n" for n in sorted(sums)))
        origins = _origins(folder)
        origins[name] = {
            "arch": arch,
            "weights": str(spec),
            "library_file": str(cached) if cached is not None else None,
            "fetched": datetime.now(UTC).isoformat(timespec="seconds"),
            "sha256": digest,
        }
        _write_atomic(folder / ORIGINS_FILE, json.dumps(origins, indent=2, sort_keys=True) + "\n")
        print(f"{arch}: wrote {folder / name} (sha256 {digest})", file=out, flush=True)
    return written


def verify(folder: str | Path, archs: Sequence[str] = (), *, log: TextIO | None = None) -> list[str]:
    """Check a weights folder: every file of ``SHA256SUMS`` present with its digest, and fitting its arch.

    Args:
        folder: the folder written by ``fetch``.
        archs: archs whose file must be there (besides those listed).

    Returns:
        The problems found, one line each (empty: the folder is good). ``OK``/``FAILED`` lines go to ``log``.
    """
    out = log if log is not None else sys.stdout
    root = Path(folder)
    sums_path = root / SUMS_FILE
    if not sums_path.is_file():
        problems: list[str] = [
            f"{sums_path}: not found (fetch the folder with python -m ml.weights fetch --dest {root})"
        ]
        print(f"FAILED {problems[0]}", file=out)
        return problems
    try:
        sums = read_sums(sums_path)
    except PretrainedWeightsError as exc:
        print(f"FAILED {exc}", file=out)
        return [str(exc)]
    problems = []
    for arch in archs:
        if f"{arch}.pth" not in sums:
            problems.append(f"{arch}.pth is not listed in {sums_path}")
            print(f"FAILED {problems[-1]}", file=out)
    for name, expected in sorted(sums.items()):
        path = root / name
        problem = None
        if not path.is_file():
            problem = f"{path}: listed in {SUMS_FILE} but missing"
        elif (found := file_sha256(path)) != expected:
            problem = (
                f"{path}: sha256 {found}, {SUMS_FILE} says {expected} (corrupt or replaced: fetch it again)"
            )
        elif path.suffix == ".pth" and path.stem in LIBRARY_WEIGHTS:
            try:
                with torch.device("meta"):
                    skeleton = build_architecture(path.stem)
                check_backbone_state(skeleton, path.stem, read_state_dict(path), str(path))
            except PretrainedWeightsError as exc:
                problem = str(exc)
        if problem is None:
            print(f"OK {path}", file=out)
        else:
            problems.append(problem)
            print(f"FAILED {problem}", file=out)
    for path in sorted(root.glob("*.pth")):
        if path.name not in sums:
            print(f"WARNING {path}: not listed in {SUMS_FILE} (loaded unchecked)", file=out)
    return problems


if __name__ == "__main__":
    from ml.cli.weights import main

    raise SystemExit(main())
