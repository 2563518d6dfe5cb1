"""Prediction basis of a test image from the atlas (eq. 7) and the questionnaire picks.

See docs/science.md, "Prediction basis".

**Retrieval (eq. 7).** For a test image, the eq. 6 maps ``M^c_{l,k}`` of a label's atlas features and the
eq. 5 map ``M^c`` are L2-normalised and the features ranked by
``d = || M^c_{l,k}/||M^c_{l,k}|| - M^c/||M^c|| ||_2``, lowest first: the atlas images of the lowest
distances are the prediction basis. Maps of different blocks are first resampled (bilinear,
``ml.cam.upsample``) to one grid, the finest native resolution among the maps (ResNet-50 at 224 px:
layer1's 56 x 56), so that no block loses detail.

**Questionnaire.** Per test slice the readers see four candidate prediction bases: the lowest distance, two
from the middle of the ranking (1-based positions ``floor(n/2)`` and ``floor(n/2) + 1``: the paper's 393rd
and 394th of 787) and the highest. The order in which they are shown is the caller's to shuffle.

Example::

    >>> ranking = retrieve(model, atlas, image, LABELS.index("SAH"), "SAH")
    >>> ranking.top(3)                                              # the prediction basis
    [RankedEntry(position=1, entry=48, distance=0.61), ...]
    >>> [c.position for c in questionnaire_candidates(ranking)]     # with 787 entries
    [1, 393, 394, 787]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from ml.atlas import Atlas
from ml.cam import TARGET_LAYERS, class_maps, upsample

__all__ = [
    "Candidate",
    "RankedEntry",
    "Ranking",
    "questionnaire_candidates",
    "questionnaire_positions",
    "rank_by_distance",
    "rank_entries",
    "retrieve",
]


def rank_by_distance(
    feature_maps: ArrayLike, overall_map: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Eq. 7: order features by ``d = || M_{l,k}/||M_{l,k}|| - M/||M|| ||_2``, lowest first.

    A zero map stays zero after normalisation, so its distance is the norm of the other term: 1 against
    a non-zero map, 0 when both are zero.

    Args:
        feature_maps: ``(F, h, w)`` eq. 6 maps of one image, all on one grid.
        overall_map: ``(h, w)`` the eq. 5 map on the same grid.

    Returns:
        ``(order, distances)``: feature indices by ascending distance (ties: lower index first) and the
        ``(F,)`` distances in that order.
    """
    feats = np.asarray(feature_maps, dtype=np.float64)
    overall = np.asarray(overall_map, dtype=np.float64)
    if feats.ndim != 3 or feats.shape[1:] != overall.shape:
        raise ValueError(f"need (F, h, w) maps and one (h, w) map, got {feats.shape} and {overall.shape}")
    flat = feats.reshape(len(feats), -1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    unit = np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 0)
    total = float(np.linalg.norm(overall))
    target = overall.ravel() / total if total > 0 else np.zeros(overall.size)
    distances = np.linalg.norm(unit - target, axis=1)
    order = np.argsort(distances, kind="stable")
    return order.astype(np.int64), distances[order]


@dataclass(frozen=True)
class RankedEntry:
    """An atlas entry at a 1-based ``position`` of a ranking, with its eq. 7 distance."""

    position: int
    entry: int
    distance: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Candidate(RankedEntry):
    """A questionnaire pick: ``role`` is "lowest", "middle" or "highest"."""

    role: str = ""


@dataclass(frozen=True, eq=False)
class Ranking:
    """Atlas entries of one label ranked for one image by eq. 7.

    Attributes:
        label: the label; ``entries``: atlas entry indices by ascending distance; ``distances``: theirs.
    """

    label: str
    entries: NDArray[np.int64]
    distances: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.entries)

    def at(self, position: int) -> RankedEntry:
        """The entry at a 1-based position."""
        if not 1 <= position <= len(self):
            raise IndexError(f"position {position} outside 1..{len(self)}")
        return RankedEntry(position, int(self.entries[position - 1]), float(self.distances[position - 1]))

    def top(self, k: int) -> list[RankedEntry]:
        """The ``k`` lowest-distance entries (fewer when the ranking is shorter)."""
        return [self.at(i) for i in range(1, min(k, len(self)) + 1)]


def rank_entries(
    atlas: Atlas, label: str, features: Mapping[str, ArrayLike], overall_map: ArrayLike
) -> Ranking:
    """Rank ``label``'s atlas entries for one image (eq. 7) from its eq. 6 and eq. 5 maps.

    Args:
        features: block -> ``(K', h_l, w_l)`` eq. 6 maps of ``atlas.filters(label)[block]``, in that order.
        overall_map: ``(h, w)`` eq. 5 map. All maps are resampled to the finest of their grids.
    """
    indices = atlas.indices(label)
    if len(indices) == 0:
        return Ranking(label, indices, np.zeros(0))
    wanted = atlas.filters(label)
    for block, chosen in wanted.items():
        if block not in features or np.shape(features[block])[0] != len(chosen):
            got = "none" if block not in features else f"{np.shape(features[block])[0]}"
            raise ValueError(
                f"{label}: need the eq. 6 maps of {len(chosen)} filters of block {block!r} "
                f"(atlas.filters(label)), got {got}"
            )
    shapes = [np.shape(features[b])[-2:] for b in wanted] + [np.shape(overall_map)]
    grid = max(shapes, key=lambda s: s[0] * s[1])
    resampled = {b: upsample(features[b], grid) for b in wanted}
    position = {(b, f): i for b, fs in wanted.items() for i, f in enumerate(fs)}
    entries = [atlas.entries[i] for i in indices]
    stack = np.stack([resampled[e.block][position[e.block, e.filter]] for e in entries])
    order, distances = rank_by_distance(stack, upsample(overall_map, grid))
    return Ranking(label, indices[order], distances)


def retrieve(
    model: nn.Module, atlas: Atlas, image: torch.Tensor, class_index: int | None, label: str
) -> Ranking:
    """The prediction basis of one image: ``label``'s atlas entries ranked by eq. 7.

    Args:
        model: the net the atlas was built from (arch ``atlas.arch``).
        image: ``(1, 3, S, S)`` network input at ``atlas.input_size``.
        class_index: the output whose logit gives the maps (None: ``atlas.label_order.index(label)``).
        label: whose atlas entries to rank.
    """
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[-1] != atlas.input_size:
        raise ValueError(
            f"image must be (1, 3, {atlas.input_size}, {atlas.input_size}), got {tuple(image.shape)}"
        )
    c = atlas.label_order.index(label) if class_index is None else class_index
    maps = class_maps(model, image, c, TARGET_LAYERS[atlas.arch], atlas.filters(label))
    assert maps.cam is not None
    return rank_entries(atlas, label, {b: m[0] for b, m in maps.features.items()}, maps.cam[0])


def questionnaire_positions(n: int) -> tuple[int, int, int, int]:
    """1-based positions of the four picks in a ranking of ``n``: 1, floor(n/2), floor(n/2)+1, n."""
    if n < 4:
        raise ValueError(f"the questionnaire needs at least 4 ranked atlas entries, got {n}")
    return 1, n // 2, n // 2 + 1, n


def questionnaire_candidates(ranking: Ranking) -> tuple[Candidate, ...]:
    """The four prediction-basis candidates: lowest distance, two from the middle, highest.

    For 787 entries: positions 1, 393, 394 and 787 (docs/science.md, "Prediction basis").

    Raises:
        ValueError: fewer than 4 entries (the label's atlas is too small for the questionnaire).
    """
    roles = ("lowest", "middle", "middle", "highest")
    picks = [ranking.at(p) for p in questionnaire_positions(len(ranking))]
    return tuple(
        Candidate(r.position, r.entry, r.distance, role) for r, role in zip(picks, roles, strict=True)
    )
