"""Losses of the ablation (M1 and M2) and Lewicki et al.'s class weights (docs/science.md, "Losses").

Reduction, everywhere in this module: the per-class terms are **summed over classes** (as the paper's
``L = -sum_c [...]``) and the per-slice losses are **averaged over the batch**.

All losses take logits ``z`` and are computed with ``log sigmoid(z) = ln p`` and ``log sigmoid(-z) =
ln(1 - p)``, so they stay finite for any logit. Targets may be soft (interpolated labels of M4 in [0, 1]).

Example::

    >>> a_pos, a_neg = class_weights_from_counts(train_labels)      # eq. 3, counts over training slices
    >>> loss = weighted_bce_loss(model(x), y, a_pos, a_neg)          # eq. 2
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray

from ml.labels import LABELS, RSNA_ORDER, SUBTYPES

__all__ = [
    "LEWICKI_RSNA_WEIGHTS",
    "bce_loss",
    "class_weighted_bce_loss",
    "class_weights_from_counts",
    "class_weights_from_rates",
    "lewicki_class_weights",
    "weighted_bce_loss",
]

#: Lewicki et al.'s class weights in RSNA order (any, epidural, intraparenchymal, intraventricular,
#: subarachnoid, subdural): epidural counts twice.
LEWICKI_RSNA_WEIGHTS: tuple[float, ...] = (1.0, 2.0, 1.0, 1.0, 1.0, 1.0)


def _check(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.ndim != 2 or logits.shape != targets.shape:
        raise ValueError(
            f"logits and targets must both be (batch, classes); got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )


def _per_class(weights: torch.Tensor | ArrayLike, logits: torch.Tensor, name: str) -> torch.Tensor:
    w = torch.as_tensor(weights, dtype=logits.dtype, device=logits.device)
    if w.shape != (logits.shape[1],):
        raise ValueError(f"{name} must have one value per class ({logits.shape[1]}), got {tuple(w.shape)}")
    return w


def weighted_bce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    a_pos: torch.Tensor | ArrayLike,
    a_neg: torch.Tensor | ArrayLike,
) -> torch.Tensor:
    """Weighted binary cross-entropy of M2 (eq. 2; docs/science.md, "Losses").

    ``L = -sum_c [a_P^c y_c ln p_c + a_N^c (1 - y_c) ln(1 - p_c)]`` per slice, ``p_c = sigmoid(z_c)``;
    summed over classes, averaged over the batch.

    Args:
        logits: ``(batch, C)`` logits ``z``.
        targets: ``(batch, C)`` labels in [0, 1] (soft labels allowed).
        a_pos: ``(C,)`` weights of the positive term ``a_P``.
        a_neg: ``(C,)`` weights of the negative term ``a_N``.

    Returns:
        A scalar tensor.
    """
    _check(logits, targets)
    targets = targets.to(logits.dtype)
    a_p = _per_class(a_pos, logits, "a_pos")
    a_n = _per_class(a_neg, logits, "a_neg")
    per_class = a_p * targets * F.logsigmoid(logits) + a_n * (1 - targets) * F.logsigmoid(-logits)
    return -per_class.sum(dim=1).mean()


def bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Plain binary cross-entropy of M1: ``L = -sum_c [y_c ln p_c + (1 - y_c) ln(1 - p_c)]``.

    Summed over classes, averaged over the batch (eq. 2 with every weight 1).
    """
    ones = torch.ones(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    return weighted_bce_loss(logits, targets, ones, ones)


def class_weighted_bce_loss(
    logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | ArrayLike
) -> torch.Tensor:
    """BCE with one weight per class on both terms (Lewicki et al.; docs/science.md, "Losses").

    ``L = -sum_c w_c [y_c ln p_c + (1 - y_c) ln(1 - p_c)]``, summed over classes, averaged over the batch:
    eq. 2 with ``a_P = a_N = w``.
    """
    return weighted_bce_loss(logits, targets, class_weights, class_weights)


def _names(n_classes: int) -> Sequence[str]:
    if n_classes == len(LABELS):
        return LABELS
    if n_classes == len(SUBTYPES):
        return SUBTYPES
    return [f"class {i}" for i in range(n_classes)]


def class_weights_from_rates(rates: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Eq. 3 from positive rates ``r = |P| / (|P| + |N|)``: ``a_P = 1 / (2 r)``, ``a_N = 1 / (2 (1 - r))``.

    The rate may be that of the training slices (``class_weights_from_counts``) or the expected rate of a
    balanced sampler (``ml.slices.SliceBatchSampler.label_rates``): either way positives and negatives
    weigh the same in the loss the net sees.

    Raises:
        ValueError: a rate outside (0, 1).
    """
    r = np.asarray(rates, dtype=np.float64)
    if r.ndim != 1 or not ((r > 0) & (r < 1)).all():
        raise ValueError(f"rates must be a vector of values in (0, 1), got {r.tolist()}")
    return 1.0 / (2.0 * r), 1.0 / (2.0 * (1.0 - r))


def class_weights_from_counts(
    labels: ArrayLike, names: Sequence[str] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Class weights of M2 from the training slices' labels (eq. 3; docs/science.md, "Losses").

    ``a_P^c = (|P^c| + |N^c|) / (2 |P^c|)`` and ``a_N^c = (|P^c| + |N^c|) / (2 |N^c|)``, where ``P^c`` and
    ``N^c`` are the training slices positive and negative for class ``c``. A class that is always (or never)
    present has no finite weight: that is refused rather than clamped, because it means the training set
    cannot teach that output.

    Args:
        labels: ``(N, C)`` binary labels (0/1 or bool) of the training slices.
        names: class names for error messages; defaults to ``LABELS`` (6 columns) or ``SUBTYPES`` (5).

    Returns:
        ``(a_pos, a_neg)``, two float64 arrays of shape ``(C,)``.

    Raises:
        ValueError: labels not 2-D or not binary, or a class with no positive or no negative slice
            (the message names the class).
    """
    y = np.asarray(labels)
    if y.ndim != 2:
        raise ValueError(f"labels must be (slices, classes), got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be binary (0/1) to be counted; interpolated labels are not counts")
    names = _names(y.shape[1]) if names is None else names
    positives = y.astype(bool).sum(axis=0).astype(np.float64)
    negatives = y.shape[0] - positives
    for c, name in enumerate(names):
        if positives[c] == 0 or negatives[c] == 0:
            kind = "positive" if positives[c] == 0 else "negative"
            raise ValueError(
                f"class {name} has no {kind} training slice "
                f"(|P|={positives[c]:.0f}, |N|={negatives[c]:.0f}): its weight would be infinite"
            )
    return class_weights_from_rates(positives / (positives + negatives))


def lewicki_class_weights() -> NDArray[np.float64]:
    """Lewicki et al.'s weights [1, 2, 1, 1, 1, 1] (RSNA order, epidural x2) mapped to ``LABELS`` order.

    Returns:
        float64 array ``(6,)`` in the order IPH, IVH, SDH, EDH, SAH, ANY: ``[1, 1, 1, 2, 1, 1]``.
    """
    by_code = dict(zip(RSNA_ORDER, LEWICKI_RSNA_WEIGHTS, strict=True))
    return np.array([by_code[code] for code in LABELS], dtype=np.float64)
