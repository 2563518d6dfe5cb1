"""Ensembles and case-level probabilities (docs/science.md, "Networks and ensemble", "Task and labels").

A score ``p`` is called positive at threshold ``t`` when ``p >= t`` (as in ``sklearn.metrics.roc_curve``).
The operating points (thresholds) are chosen by ``ml.stats`` (docs/science.md, "Operating points").

Example::

    >>> slice_probs = average([p_vgg, p_resnet, p_inception, p_irv2])      # the paper's ensemble
    >>> case = case_probabilities(slice_probs)                           # max over the case's slices
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "average",
    "case_probabilities",
    "majority_vote",
    "vote_fraction",
    "weighted_average",
]


def _stack(probs: Sequence[ArrayLike]) -> NDArray[np.float64]:
    if len(probs) == 0:
        raise ValueError("an ensemble needs at least one model's probabilities")
    arrays = [np.asarray(p, dtype=np.float64) for p in probs]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"every model must give the same (N, C) shape, got {sorted(shapes)}")
    return np.stack(arrays)


def average(probs: Sequence[ArrayLike]) -> NDArray[np.float64]:
    """Unweighted mean of the models' probabilities, the paper's ensemble (docs/science.md, "Networks and
    ensemble").

    Args:
        probs: one ``(N, C)`` array per model.

    Returns:
        ``(N, C)`` float64.
    """
    return cast(NDArray[np.float64], _stack(probs).mean(axis=0))


def weighted_average(probs: Sequence[ArrayLike], weights: ArrayLike) -> NDArray[np.float64]:
    """Weighted mean of the models' probabilities (the paper's "weighted average" alternative).

    Args:
        probs: one ``(N, C)`` array per model (M models).
        weights: ``(M,)`` one weight per model, or ``(M, C)`` one per model and class; non-negative,
            normalised here to sum 1 (per class).
    """
    stacked = _stack(probs)
    w = np.asarray(weights, dtype=np.float64)
    n_models, _, n_classes = stacked.shape
    if w.shape == (n_models,):
        w = np.repeat(w[:, None], n_classes, axis=1)
    if w.shape != (n_models, n_classes):
        raise ValueError(f"weights must be ({n_models},) or ({n_models}, {n_classes}), got {w.shape}")
    if (w < 0).any() or (w.sum(axis=0) <= 0).any():
        raise ValueError("weights must be non-negative with a positive sum for every class")
    w = w / w.sum(axis=0)
    return cast(NDArray[np.float64], np.einsum("mc,mnc->nc", w, stacked))


def vote_fraction(probs: Sequence[ArrayLike], thresholds: ArrayLike) -> NDArray[np.float64]:
    """Fraction of models calling each output positive (``p >= t``).

    Args:
        probs: one ``(N, C)`` array per model (M models).
        thresholds: a scalar, ``(C,)`` per class, or ``(M, C)`` per model and class (each model's own
            operating point).

    Returns:
        ``(N, C)`` in [0, 1]; a continuous score of the majority vote (usable for mAP).
    """
    stacked = _stack(probs)
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim == 2:
        if t.shape != (stacked.shape[0], stacked.shape[2]):
            raise ValueError(
                f"per-model thresholds must be {(stacked.shape[0], stacked.shape[2])}, got {t.shape}"
            )
        t = t[:, None, :]
    return cast(NDArray[np.float64], (stacked >= t).mean(axis=0))


def majority_vote(probs: Sequence[ArrayLike], thresholds: ArrayLike) -> NDArray[np.uint8]:
    """Majority vote of the models (the paper's third ensemble).

    Positive when at least half the models are positive (``vote_fraction >= 0.5``): a tie (2 of 4) counts as
    positive, siding with sensitivity like the paper's high-sensitivity operating point.

    Returns:
        ``(N, C)`` uint8 of 0/1.
    """
    return (vote_fraction(probs, thresholds) >= 0.5).astype(np.uint8)


def case_probabilities(slice_probs: ArrayLike) -> NDArray[np.float64]:
    """Case-level probabilities: the maximum over the case's slices (docs/science.md, "Task and labels").

    A subtype is present in a case if it is predicted on any slice; with one threshold per class,
    ``max_s p_s >= t`` exactly when some slice has ``p_s >= t``.

    Args:
        slice_probs: ``(Z, C)`` probabilities of one case's slices (Z >= 1).

    Returns:
        ``(C,)`` float64.
    """
    p = np.asarray(slice_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"slice_probs must be (Z >= 1, C), got {p.shape}")
    return cast(NDArray[np.float64], p.max(axis=0))
