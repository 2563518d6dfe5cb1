"""Ensembles, case-level probabilities and operating points (SCIENCE.md A "Ensemble", "Headline results"; B).

A score ``p`` is called positive at threshold ``t`` when ``p >= t`` (as in ``sklearn.metrics.roc_curve``).

Example::

    >>> slice_probs = average([p_vgg, p_resnet, p_inception, p_irv2])      # the paper's ensemble
    >>> case = case_probabilities(slice_probs)                           # max over the case's slices
    >>> t = threshold_for_sensitivity(y_val[:, 5], val_scores[:, 5], 0.95)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ml.stats import binary_inputs

__all__ = [
    "PrecisionOperatingPoints",
    "average",
    "case_probabilities",
    "majority_vote",
    "threshold_for_sensitivity",
    "thresholds_for_min_precision",
    "thresholds_for_sensitivity",
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
    """Unweighted mean of the models' probabilities, the paper's ensemble (SCIENCE.md A "Ensemble").

    Args:
        probs: one ``(N, C)`` array per model.

    Returns:
        ``(N, C)`` float64.
    """
    return _stack(probs).mean(axis=0)


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
    return np.einsum("mc,mnc->nc", w, stacked)


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
    return (stacked >= t).mean(axis=0)


def majority_vote(probs: Sequence[ArrayLike], thresholds: ArrayLike) -> NDArray[np.uint8]:
    """Majority vote of the models (the paper's third ensemble).

    Positive when at least half the models are positive (``vote_fraction >= 0.5``): a tie (2 of 4) counts as
    positive, siding with sensitivity like the paper's high-sensitivity operating point.

    Returns:
        ``(N, C)`` uint8 of 0/1.
    """
    return (vote_fraction(probs, thresholds) >= 0.5).astype(np.uint8)


def case_probabilities(slice_probs: ArrayLike) -> NDArray[np.float64]:
    """Case-level probabilities: the maximum over the case's slices (SCIENCE.md A "Task").

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
    return p.max(axis=0)


def threshold_for_sensitivity(y_true: ArrayLike, scores: ArrayLike, target: float = 0.95) -> float:
    """The highest threshold whose sensitivity is at least ``target`` (SCIENCE.md A "operating point").

    The paper's "high-sensitivity point chosen on the validation set": among all thresholds ``t`` with
    ``TPR(score >= t) >= target``, the highest, hence the best specificity. It is always one of the scores.

    Args:
        y_true: ``(N,)`` 0/1 validation labels (at least one positive).
        scores: ``(N,)`` scores.
        target: sensitivity to reach, in (0, 1].

    Raises:
        ValueError: no positive label, or target outside (0, 1].
    """
    from sklearn.metrics import roc_curve

    y, s = binary_inputs(y_true, scores)
    if not 0 < target <= 1:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    if y.sum() == 0:
        raise ValueError("sensitivity is undefined without a positive label")
    _, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    # TPR is a fraction of integer counts; allow for its rounding when target is such a fraction.
    first = int(np.argmax(tpr >= target - 1e-12))
    return float(thresholds[first])


def thresholds_for_sensitivity(
    y_true: ArrayLike, scores: ArrayLike, target: float = 0.95
) -> NDArray[np.float64]:
    """``threshold_for_sensitivity`` per class of ``(N, C)`` arrays; NaN for a class without positives."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"y_true and scores must both be (N, C), got {y.shape} and {s.shape}")
    return np.array(
        [
            threshold_for_sensitivity(y[:, c], s[:, c], target) if y[:, c].any() else np.nan
            for c in range(y.shape[1])
        ]
    )


@dataclass(frozen=True)
class PrecisionOperatingPoints:
    """Per-class operating points at a minimum precision (Lewicki et al., SCIENCE.md B).

    Attributes:
        thresholds: ``(C,)`` the chosen threshold, NaN where ``reached`` is False.
        precision: ``(C,)`` precision at that threshold (NaN when not reached).
        recall: ``(C,)`` recall at that threshold (NaN when not reached).
        reached: ``(C,)`` False where no threshold gives precision >= the minimum (or the class has no
            positive label): the caller must pick another rule for that class.
    """

    thresholds: NDArray[np.float64]
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    reached: NDArray[np.bool_]


def _min_precision_point(
    y: NDArray[np.bool_], s: NDArray[np.float64], min_precision: float
) -> tuple[float, float, float]:
    from sklearn.metrics import precision_recall_curve

    if y.sum() == 0:
        return np.nan, np.nan, np.nan
    precision, recall, thresholds = precision_recall_curve(y, s, drop_intermediate=False)
    # The last (precision 1, recall 0) point has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    ok = precision >= min_precision
    if not ok.any():
        return np.nan, np.nan, np.nan
    best = recall[ok].max()
    # Equal recall at a higher threshold means fewer false positives: take the highest such threshold.
    candidates = np.flatnonzero(ok & (recall == best))
    i = int(candidates[np.argmax(thresholds[candidates])])
    return float(thresholds[i]), float(precision[i]), float(recall[i])


def thresholds_for_min_precision(
    y_true: ArrayLike, scores: ArrayLike, min_precision: float = 0.7
) -> PrecisionOperatingPoints:
    """Per class, the threshold of highest recall whose precision is at least ``min_precision``.

    Lewicki et al.'s "fixed minimum precision" operating point (SCIENCE.md B: precision >= 0.7 raised mean
    recall to 0.875). Ties in recall go to the highest threshold (best precision). Where no threshold reaches
    the precision, or the class has no positive label, the class is reported with ``reached=False`` and NaN.

    Args:
        y_true: ``(N, C)`` 0/1 labels.
        scores: ``(N, C)`` scores.
        min_precision: the precision floor in [0, 1].
    """
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"y_true and scores must both be (N, C), got {y.shape} and {s.shape}")
    if not 0 <= min_precision <= 1:
        raise ValueError(f"min_precision must be in [0, 1], got {min_precision}")
    points = [
        _min_precision_point(*binary_inputs(y[:, c], s[:, c]), min_precision) for c in range(y.shape[1])
    ]
    thresholds, precision, recall = (np.array(v, dtype=np.float64) for v in zip(*points, strict=True))
    return PrecisionOperatingPoints(thresholds, precision, recall, ~np.isnan(thresholds))
