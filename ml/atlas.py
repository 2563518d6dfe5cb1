"""The atlas of prediction bases (docs/science.md, "Atlas"): relevance counts, streaming build, storage.

**Relevance count.** Every training image goes through the trained net; for every filter of every atlas
block (``ml.cam.ATLAS_BLOCKS``) the images are sorted by the filter's maximum activation, high to low, and
a label's relevance count is the number of consecutive top images carrying that label (top SAH+IPH, second
SAH, third SDH -> SAH 2, IPH 1, others 0). Per label all filters of all blocks are sorted by count (ties:
the higher top activation first) and the top ``top_fraction`` (5 %) form the atlas, each entry shown with
the filter's top image: a patch around the peak activation and the activation map over it.

Two choices the paper leaves open, made here:

* A count stops at the first image on which the filter is silent (maximum activation <= 0): an image that
  does not excite a filter says nothing about it, and a dead filter would otherwise take its count from
  the dataset order. Filters with count 0 for a label never enter that label's atlas.
* **Memory bound.** The build streams: per filter it keeps only its top ``top_m`` images (activation, image
  id; labels are looked up in one ``(N, C)`` bool array) and the patch and map of its current top image,
  cut when a new top image arrives. A count can only continue while every image so far carries the label,
  so it is exact whenever it ends inside the kept list (< ``top_m``); a count that runs through all
  ``top_m`` kept images is reported as ``top_m`` with ``capped=True`` (the true count is >= ``top_m``).
  Memory is ``F x (12 top_m + 5 P^2)`` bytes for ``F`` filters and patches of ``P`` pixels (plus one bool
  per image and label): about 90 MB for ResNet-50's 3,840 filters at the defaults (256, 64).

An entry's map is the filter's activation ``A_{l,k}`` on its top image (what the images are ranked by),
cropped to the patch box and divided by its peak; the class-specific eq. 6 maps are computed on the test
image at retrieval. Patches are cut from the network input (``prepare_volume``'s output, the ImageNet
normalisation undone), so their pixels are the windowed slice at the net's input size.

Retrieval of a test image's prediction basis from the atlas (eq. 7) and the questionnaire picks live in
``ml.retrieval``.

Example::

    >>> atlas = build_atlas(model, "tiny", batches, LABELS)      # batches: (images, labels, refs)
    >>> atlas.save("var/atlas")
    >>> load_atlas("var/atlas").counts()
    {'IPH': 12, 'IVH': 9, 'SDH': 12, 'EDH': 4, 'SAH': 12, 'ANY': 12}

Command line (``ml.cli.atlas``): ``python -m ml.atlas --model BUNDLE_DIR --data PHANTOM_DIR --out DIR``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from ml.cam import ATLAS_BLOCKS, capture_activations
from ml.preprocess import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "ATLAS_VERSION",
    "PATCH_PIXELS",
    "TOP_FRACTION",
    "TOP_M",
    "Atlas",
    "AtlasBuilder",
    "AtlasEntry",
    "AtlasError",
    "build_atlas",
    "load_atlas",
    "patch_box",
    "relevance_counts",
    "relevance_counts_many",
]

ATLAS_VERSION = 1
ATLAS_JSON = "atlas.json"
ARRAYS_NPZ = "arrays.npz"
#: Share of all filters kept per label (the paper keeps the top 5 %; docs/science.md, "Atlas").
TOP_FRACTION = 0.05
#: Images kept per filter while streaming; counts that reach it are capped (module doc).
TOP_M = 256
#: Side in pixels of the stored patches and maps.
PATCH_PIXELS = 64

Ref = tuple[str, int]
Batch = tuple[torch.Tensor, ArrayLike, Sequence[Ref]]


class AtlasError(ValueError):
    """An atlas folder that is missing, altered or inconsistent with this code."""


# --------------------------------------------------------------------------------------- relevance count


def relevance_counts(order_labels: ArrayLike) -> NDArray[np.int64]:
    """Relevance count of one filter: per label, the number of consecutive top images carrying it.

    Args:
        order_labels: ``(N, C)`` bool, the images' labels in the filter's activation order (highest first).

    Returns:
        ``(C,)`` counts; top SAH+IPH, second SAH, third SDH gives SAH 2, IPH 1, the others 0.
    """
    labels = np.asarray(order_labels, dtype=bool)
    if labels.ndim != 2:
        raise ValueError(f"order_labels must be (N, C), got {labels.shape}")
    counts = np.zeros(labels.shape[1], dtype=np.int64)
    for c in range(labels.shape[1]):
        for carries in labels[:, c]:
            if not carries:
                break
            counts[c] += 1
    return counts


def relevance_counts_many(order_labels: ArrayLike, valid: ArrayLike | None = None) -> NDArray[np.int64]:
    """``relevance_counts`` of many filters at once: the length of each label's leading run of True.

    Args:
        order_labels: ``(F, M, C)`` bool, per filter its images' labels in activation order.
        valid: ``(F, M)`` bool; a run also stops at the first invalid image (a silent filter, or padding).

    Returns:
        ``(F, C)`` counts.
    """
    labels = np.asarray(order_labels, dtype=bool)
    if labels.ndim != 3:
        raise ValueError(f"order_labels must be (F, M, C), got {labels.shape}")
    if valid is not None:
        ok = np.asarray(valid, dtype=bool)
        if ok.shape != labels.shape[:2]:
            raise ValueError(f"valid must be {labels.shape[:2]}, got {ok.shape}")
        labels = labels & ok[:, :, None]
    return np.asarray(np.logical_and.accumulate(labels, axis=1).sum(axis=1), dtype=np.int64)


# -------------------------------------------------------------------------------------------- entries


def _box(values: Any) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` as Python ints, from a JSON list or an array row."""
    x0, y0, x1, y1 = (int(v) for v in values)
    return x0, y0, x1, y1


@dataclass(frozen=True)
class AtlasEntry:
    """One atlas feature for one label, shown with the filter's top training image.

    Attributes:
        label: the label whose atlas holds it.
        rank: 1-based rank within the label (by relevance, then top activation).
        block: dotted block name; ``filter``: the filter (channel) index in it.
        relevance: the relevance count (capped at ``top_m`` when ``capped``).
        capped: every kept image carried the label: the true count is >= ``relevance``.
        activation: the filter's maximum activation on its top image.
        case_id, slice_index: the top image.
        box: ``(x0, y0, x1, y1)`` of the patch in network-input pixels (``input_size`` square; x1, y1
            exclusive), centred on the peak activation and kept inside the image.
    """

    label: str
    rank: int
    block: str
    filter: int
    relevance: int
    capped: bool
    activation: float
    case_id: str
    slice_index: int
    box: tuple[int, int, int, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"box": list(self.box)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AtlasEntry:
        return cls(
            label=str(data["label"]),
            rank=int(data["rank"]),
            block=str(data["block"]),
            filter=int(data["filter"]),
            relevance=int(data["relevance"]),
            capped=bool(data["capped"]),
            activation=float(data["activation"]),
            case_id=str(data["case_id"]),
            slice_index=int(data["slice_index"]),
            box=_box(data["box"]),
        )


@dataclass(eq=False)
class Atlas:
    """The atlas of one net: entries per label with their patches and activation maps.

    Attributes:
        arch: the net's arch (``ml.models``); ``blocks``: the blocks searched; ``n_filters``: block -> K.
        label_order: the net's outputs; ``input_size``: network input side in pixels.
        entries: all labels' entries, each label's in rank order.
        maps: ``(E, P, P)`` float16 in [0, 1]: the filter's activation over the patch box on its top image,
            divided by ``activation``.
        patches: ``(E, P, P, 3)`` uint8: the windowed network input (RGB) in the box.
        n_images: training images streamed; ``build_seconds``: build wall time.
        top_fraction, top_m: the build's parameters; ``source``: free metadata (bundle path, weights hash).
    """

    arch: str
    label_order: tuple[str, ...]
    blocks: tuple[str, ...]
    n_filters: dict[str, int]
    input_size: int
    entries: tuple[AtlasEntry, ...]
    maps: NDArray[np.float16]
    patches: NDArray[np.uint8]
    n_images: int
    build_seconds: float
    top_fraction: float = TOP_FRACTION
    top_m: int = TOP_M
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.entries)
        if self.maps.ndim != 3 or len(self.maps) != n or self.patches.shape != (*self.maps.shape, 3):
            raise AtlasError(
                f"{n} entries need maps (E, P, P) and patches (E, P, P, 3); got {self.maps.shape} and "
                f"{self.patches.shape}"
            )

    def indices(self, label: str) -> NDArray[np.int64]:
        """Entry indices of ``label``, in rank order (empty when the label has none)."""
        if label not in self.label_order:
            raise KeyError(f"label {label!r} is not in the atlas's labels {list(self.label_order)}")
        return np.array([i for i, e in enumerate(self.entries) if e.label == label], dtype=np.int64)

    def filters(self, label: str) -> dict[str, list[int]]:
        """Block -> the filters of ``label``'s entries (what eq. 6 needs for retrieval), blocks in order."""
        out: dict[str, list[int]] = {}
        for i in self.indices(label):
            entry = self.entries[i]
            out.setdefault(entry.block, [])
            if entry.filter not in out[entry.block]:
                out[entry.block].append(entry.filter)
        return {block: out[block] for block in self.blocks if block in out}

    def counts(self) -> dict[str, int]:
        """Entries per label."""
        return {label: len(self.indices(label)) for label in self.label_order}

    def save(self, directory: str | Path) -> Path:
        """Write ``atlas.json`` (metadata, entries) and ``arrays.npz`` (maps, patches); returns the folder."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ARRAYS_NPZ, "wb") as fh:
            np.savez_compressed(fh, maps=self.maps.astype(np.float16), patches=self.patches.astype(np.uint8))
        doc = {
            "format": "ichweb-atlas",
            "version": ATLAS_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "arch": self.arch,
            "label_order": list(self.label_order),
            "blocks": list(self.blocks),
            "n_filters": self.n_filters,
            "input_size": self.input_size,
            "patch_pixels": int(self.maps.shape[-1]),
            "top_fraction": self.top_fraction,
            "top_m": self.top_m,
            "n_images": self.n_images,
            "build_seconds": round(self.build_seconds, 3),
            "counts": self.counts(),
            "source": self.source,
            "entries": [e.to_dict() for e in self.entries],
        }
        (folder / ATLAS_JSON).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        return folder


def load_atlas(directory: str | Path) -> Atlas:
    """Read an atlas written by ``Atlas.save`` (``np.load(allow_pickle=False)``: no objects are unpickled).

    Raises:
        AtlasError: missing files, another format or version, or arrays that do not match the entries.
    """
    folder = Path(directory)
    meta_path, arrays_path = folder / ATLAS_JSON, folder / ARRAYS_NPZ
    for path in (meta_path, arrays_path):
        if not path.is_file():
            raise AtlasError(f"{path} not found: not an atlas folder (build one with python -m ml.atlas)")
    try:
        doc = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AtlasError(f"{meta_path} is not valid JSON: {exc}") from None
    if doc.get("format") != "ichweb-atlas" or doc.get("version") != ATLAS_VERSION:
        raise AtlasError(
            f"{meta_path}: format {doc.get('format')!r} version {doc.get('version')!r}; this code reads "
            f"ichweb-atlas version {ATLAS_VERSION} (rebuild the atlas)"
        )
    try:
        with np.load(arrays_path, allow_pickle=False) as npz:
            maps, patches = npz["maps"], npz["patches"]
        return Atlas(
            arch=str(doc["arch"]),
            label_order=tuple(doc["label_order"]),
            blocks=tuple(doc["blocks"]),
            n_filters={str(k): int(v) for k, v in doc["n_filters"].items()},
            input_size=int(doc["input_size"]),
            entries=tuple(AtlasEntry.from_dict(e) for e in doc["entries"]),
            maps=maps,
            patches=patches,
            n_images=int(doc["n_images"]),
            build_seconds=float(doc["build_seconds"]),
            top_fraction=float(doc["top_fraction"]),
            top_m=int(doc["top_m"]),
            source=dict(doc.get("source") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, AtlasError):
            raise
        raise AtlasError(f"{folder}: malformed atlas ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------- build


def patch_box(row: int, col: int, map_shape: tuple[int, int], input_size: int) -> tuple[int, int, int, int]:
    """Square patch ``(x0, y0, x1, y1)`` in input pixels around feature cell ``(row, col)`` of a block.

    Side: 4 cells of the block (its stride times 4), at least 1/8 of the input, at most all of it; centred
    on the cell's centre and shifted to stay inside the image. ResNet-50 at 224: 28, 32, 64, 128 px.
    """
    h, w = map_shape
    size = int(input_size)
    side = min(size, max(size // 8, 4 * math.ceil(size / max(h, w))))
    cx, cy = (col + 0.5) * size / w, (row + 0.5) * size / h
    x0 = int(min(max(round(cx - side / 2), 0), size - side))
    y0 = int(min(max(round(cy - side / 2), 0), size - side))
    return x0, y0, x0 + side, y0 + side


@dataclass
class _BlockState:
    """Per filter of one block: the kept top list, and the box, patch and map of its top image."""

    values: torch.Tensor  # (K, <= M) float32, descending
    ids: torch.Tensor  # (K, <= M) int64 image ids
    boxes: torch.Tensor  # (K, 4) int64
    patches: torch.Tensor  # (K, P, P, 3) uint8
    maps: torch.Tensor  # (K, P, P) float16


class AtlasBuilder:
    """Streaming atlas build (see the module doc): ``add`` batches of training images, then ``finish``.

    Args:
        model: the trained net (returns logits); run in eval mode, its mode restored by ``finish``.
        arch: its arch, for ``ATLAS_BLOCKS`` and the record.
        label_order: the net's outputs, the columns of the labels passed to ``add``.
        blocks: blocks to search (default ``ATLAS_BLOCKS[arch]``).
        top_m: images kept per filter; ``patch_pixels``: side of the stored patches and maps.
    """

    def __init__(
        self,
        model: nn.Module,
        arch: str,
        label_order: Sequence[str],
        blocks: Sequence[str] | None = None,
        *,
        top_m: int = TOP_M,
        patch_pixels: int = PATCH_PIXELS,
    ) -> None:
        if top_m < 1 or patch_pixels < 1:
            raise ValueError(f"top_m and patch_pixels must be >= 1, got {top_m} and {patch_pixels}")
        if blocks is None and arch not in ATLAS_BLOCKS:
            raise ValueError(f"no atlas blocks known for arch {arch!r}; pass blocks=")
        self.model, self.arch, self.label_order = model, arch, tuple(label_order)
        self.blocks = tuple(blocks if blocks is not None else ATLAS_BLOCKS[arch])
        self.top_m, self.patch_pixels = top_m, patch_pixels
        self.input_size: int | None = None
        self._states: dict[str, _BlockState] = {}
        self._labels: list[NDArray[np.bool_]] = []
        self.refs: list[Ref] = []
        self._was_training = model.training
        self._started = time.perf_counter()

    @property
    def n_images(self) -> int:
        return len(self.refs)

    def add(self, images: torch.Tensor, labels: ArrayLike, refs: Sequence[Ref]) -> None:
        """Stream one batch: ``(B, 3, S, S)`` network input, ``(B, C)`` labels, ``B`` (case_id, slice)."""
        y = np.asarray(labels)
        y = y if y.dtype == bool else y > 0.5
        if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
            raise ValueError(f"images must be (B, 3, S, S), got {tuple(images.shape)}")
        if y.shape != (len(images), len(self.label_order)) or len(refs) != len(images):
            raise ValueError(
                f"{len(images)} images need labels ({len(images)}, {len(self.label_order)}) and as many "
                f"refs; got labels {y.shape} and {len(refs)} refs"
            )
        size = int(images.shape[-1])
        if self.input_size is None:
            self.input_size = size
        elif size != self.input_size:
            raise ValueError(f"all images must be {self.input_size} px, got {size}")
        device = next(iter(self.model.parameters())).device
        x = images.to(device)
        start = self.n_images
        self.model.eval()
        with torch.inference_mode(), capture_activations(self.model, self.blocks) as acts:
            logits = self.model(x)
            if logits.shape[1] != len(self.label_order):
                raise ValueError(
                    f"the net has {logits.shape[1]} outputs, label_order {len(self.label_order)}"
                )
            mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
            std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
            rgb = (x.float() * std + mean).clamp(0, 1)
            for block in self.blocks:
                self._update(block, acts[block].float(), rgb, start)
        self._labels.append(y.astype(bool))
        self.refs.extend((str(c), int(s)) for c, s in refs)

    def _update(self, block: str, act: torch.Tensor, rgb: torch.Tensor, start: int) -> None:
        from torchvision.ops import roi_align

        b, k, h, w = act.shape
        p = self.patch_pixels
        state = self._states.get(block)
        if state is None:
            state = _BlockState(
                values=torch.empty((k, 0)),
                ids=torch.empty((k, 0), dtype=torch.int64),
                boxes=torch.zeros((k, 4), dtype=torch.int64),
                patches=torch.zeros((k, p, p, 3), dtype=torch.uint8),
                maps=torch.zeros((k, p, p), dtype=torch.float16),
            )
            self._states[block] = state
        vmax, vidx = act.flatten(2).max(dim=2)  # (B, K)
        old_top = state.ids[:, 0].clone() if state.ids.shape[1] else torch.full((k,), -1)
        values = torch.cat([state.values, vmax.T.cpu()], dim=1)
        ids = torch.cat([state.ids, torch.arange(start, start + b).expand(k, b)], dim=1)
        # Stable: among equal activations the earlier image stays first.
        order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, : self.top_m]
        state.values, state.ids = values.gather(1, order), ids.gather(1, order)
        changed = torch.nonzero(state.ids[:, 0] != old_top).flatten()
        if len(changed) == 0:
            return
        local = state.ids[changed, 0] - start
        peak = vidx.cpu()[local, changed]
        boxes = torch.tensor(
            [patch_box(int(i) // w, int(i) % w, (h, w), rgb.shape[-1]) for i in peak], dtype=torch.int64
        )
        rois = torch.cat([local[:, None].float(), boxes.float()], dim=1).to(rgb.device)
        patch = roi_align(rgb, rois, p, spatial_scale=1.0, sampling_ratio=2, aligned=True)
        own = act[local.to(act.device), changed.to(act.device)][:, None]
        rois[:, 0] = torch.arange(len(changed), dtype=torch.float32, device=rois.device)
        amap = roi_align(own, rois, p, spatial_scale=w / rgb.shape[-1], sampling_ratio=2, aligned=True)
        top = state.values[changed, 0]
        state.boxes[changed] = boxes
        state.patches[changed] = (patch.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).byte().cpu()
        scaled = amap[:, 0].cpu() / top.clamp_min(1e-12)[:, None, None]
        state.maps[changed] = scaled.clamp(0, 1).half()

    def close(self) -> None:
        """Give the model back its train/eval mode (``finish`` does it too)."""
        self.model.train(self._was_training)

    def finish(self, top_fraction: float = TOP_FRACTION, source: Mapping[str, Any] | None = None) -> Atlas:
        """Count, select the top ``top_fraction`` of all filters per label, and return the ``Atlas``."""
        self.close()
        if not 0 < top_fraction <= 1:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
        if not self._states:
            raise ValueError("no images were added: the atlas needs the training images")
        labels = np.concatenate(self._labels)
        states = [self._states[b] for b in self.blocks]
        values = torch.cat([s.values for s in states]).numpy()
        ids = torch.cat([s.ids for s in states]).numpy()
        block_of = np.concatenate([np.full(len(s.boxes), i) for i, s in enumerate(states)])
        filter_of = np.concatenate([np.arange(len(s.boxes)) for s in states])
        counts = relevance_counts_many(labels[ids], values > 0)
        capped = (counts >= self.top_m) & (self.n_images > self.top_m)
        top_value = values[:, 0]
        n_keep = max(1, math.ceil(top_fraction * len(values)))
        boxes = torch.cat([s.boxes for s in states]).numpy()
        patches = torch.cat([s.patches for s in states]).numpy()
        maps = torch.cat([s.maps for s in states]).numpy()
        entries: list[AtlasEntry] = []
        rows: list[int] = []
        for c, label in enumerate(self.label_order):
            cand = np.flatnonzero(counts[:, c] > 0)
            order = np.lexsort((filter_of[cand], block_of[cand], -top_value[cand], -counts[cand, c]))
            for rank, f in enumerate(cand[order][:n_keep], start=1):
                case_id, slice_index = self.refs[int(ids[f, 0])]
                entries.append(
                    AtlasEntry(
                        label=label,
                        rank=rank,
                        block=self.blocks[int(block_of[f])],
                        filter=int(filter_of[f]),
                        relevance=int(counts[f, c]),
                        capped=bool(capped[f, c]),
                        activation=float(top_value[f]),
                        case_id=case_id,
                        slice_index=slice_index,
                        box=_box(boxes[f]),
                    )
                )
                rows.append(int(f))
        p = self.patch_pixels
        return Atlas(
            arch=self.arch,
            label_order=self.label_order,
            blocks=self.blocks,
            n_filters={b: len(s.boxes) for b, s in zip(self.blocks, states, strict=True)},
            input_size=int(self.input_size or 0),
            entries=tuple(entries),
            maps=maps[rows] if rows else np.zeros((0, p, p), np.float16),
            patches=patches[rows] if rows else np.zeros((0, p, p, 3), np.uint8),
            n_images=self.n_images,
            build_seconds=time.perf_counter() - self._started,
            top_fraction=top_fraction,
            top_m=self.top_m,
            source=dict(source or {}),
        )


def build_atlas(
    model: nn.Module,
    arch: str,
    images: Iterable[Batch],
    label_order: Sequence[str],
    blocks: Sequence[str] | None = None,
    top_fraction: float = TOP_FRACTION,
    progress: Callable[[int], None] | None = None,
    *,
    top_m: int = TOP_M,
    patch_pixels: int = PATCH_PIXELS,
    source: Mapping[str, Any] | None = None,
) -> Atlas:
    """Build the atlas of paper A (docs/science.md, "Atlas") by streaming the training images once.

    Args:
        model: the trained net, returning logits, on its device.
        arch: its arch (``ATLAS_BLOCKS`` key).
        images: batches ``(images (B, 3, S, S) from prepare_volume, labels (B, C) bool in label_order,
            refs: B (case_id, slice_index))``; consumed once, never stored.
        label_order: the net's outputs.
        blocks: blocks to search (default ``ATLAS_BLOCKS[arch]``).
        top_fraction: share of all filters kept per label (5 %).
        progress: called with the number of images of each batch once it is streamed.
        top_m, patch_pixels, source: see ``AtlasBuilder`` and ``Atlas``.
    """
    builder = AtlasBuilder(model, arch, label_order, blocks, top_m=top_m, patch_pixels=patch_pixels)
    try:
        for batch, labels, refs in images:
            builder.add(batch, labels, refs)
            if progress is not None:
                progress(len(batch))
    finally:
        builder.close()
    return builder.finish(top_fraction, source)


if __name__ == "__main__":
    from ml.cli.atlas import main

    raise SystemExit(main())
