"""Validation of a trained ensemble: mAP, AUC and the operating points of the bundle (docs/science.md,
"Operating points").

``ensemble_validation`` predicts every validation case the way a bundle will (``ml.infer.predict_case``:
M4 interpolation at each arch's degree, unweighted ensemble average, case = max over slices) and chooses,
per class, the operating point: the highest threshold whose **case-level** validation sensitivity is at
least the recipe's target (``ml.stats.thresholds_for_sensitivity``), the paper's "high-sensitivity
point chosen on the validation set". A class without a positive validation case gets no threshold (None).

Example::

    >>> metrics = ensemble_validation(models, val_cases, recipe, input_size={"tiny": 128},
    ...                               degree={"tiny": 3}, windowing="paper")
    >>> metrics["val_map"], metrics["thresholds"]["ANY"]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from ml.data import CaseData
from ml.recipes import Recipe
from ml.stats import (
    mean_average_precision,
    per_class_average_precision,
    roc_auc,
    thresholds_for_sensitivity,
)

__all__ = ["cohort_metrics", "ensemble_validation", "finite_or_none"]


def finite_or_none(value: float) -> float | None:
    """``value`` as a float, or None when it is NaN or infinite (JSON has no NaN)."""
    return float(value) if value is not None and math.isfinite(value) else None


def _rates(y: np.ndarray, p: np.ndarray, t: float) -> tuple[float | None, float | None]:
    """Sensitivity and specificity of ``p >= t`` (None where undefined)."""
    if math.isnan(t):
        return None, None
    called = p >= t
    sens = float(called[y == 1].mean()) if (y == 1).any() else None
    spec = float((~called[y == 0]).mean()) if (y == 0).any() else None
    return sens, spec


def ensemble_validation(
    models: Mapping[str, nn.Module],
    cases: Sequence[CaseData],
    recipe: Recipe,
    *,
    input_size: Mapping[str, int],
    degree: Mapping[str, int],
    windowing: str,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Validation metrics and operating points of an ensemble (docs/science.md, "Operating points").

    Returns:
        ``val_map`` (slice level, the paper's ensemble mAP), ``val_map_case``, ``val_ap`` (slice AP per
        label), ``val_auc_case`` per label, ``thresholds`` per label (None without a positive case), and
        ``case_sensitivity`` / ``case_specificity`` per label at its threshold, plus the counts.
    """
    from ml.infer import predict_case

    labels = recipe.label_order
    n = len(labels)
    slice_p, slice_y, case_p, case_y = [], [], [], []
    for case in cases:
        pred = predict_case(
            models,
            np.asarray(case.volume()),
            input_size=input_size,
            degree=degree,
            windowing=windowing,
            device=device,
            batch_size=recipe.batch_size,
            crop_to_head=recipe.crop_to_head,
        )
        y = case.labels[:, :n]
        slice_p.append(pred.slices)
        slice_y.append(y)
        case_p.append(pred.case)
        case_y.append(y.max(axis=0))
    sp, sy = np.concatenate(slice_p), np.concatenate(slice_y).astype(np.int64)
    cp, cy = np.stack(case_p), np.stack(case_y).astype(np.int64)
    return _metrics(labels, recipe.target_sensitivity, sp, sy, cp, cy)


def _metrics(
    labels: Sequence[str],
    target_sensitivity: float,
    sp: NDArray[np.float64],
    sy: NDArray[np.int64],
    cp: NDArray[np.float64],
    cy: NDArray[np.int64],
) -> dict[str, Any]:
    """``ensemble_validation``'s metrics from slice (``sp``, ``sy``) and case (``cp``, ``cy``) arrays."""
    n = len(labels)
    with warnings.catch_warnings():
        # A label positive in every validation case still has a threshold; sklearn warns about its FPR.
        warnings.filterwarnings("ignore", message="No negative samples in y_true")
        thresholds = thresholds_for_sensitivity(cy, cp, target_sensitivity)
    rates = [_rates(cy[:, c], cp[:, c], thresholds[c]) for c in range(n)]
    ap = per_class_average_precision(sy, sp)
    return {
        "val_map": finite_or_none(mean_average_precision(sy, sp)),
        "val_map_case": finite_or_none(mean_average_precision(cy, cp)),
        "val_ap": {label: finite_or_none(ap[c]) for c, label in enumerate(labels)},
        "val_auc_case": {
            label: finite_or_none(roc_auc(cy[:, c], cp[:, c])) for c, label in enumerate(labels)
        },
        "thresholds": {label: finite_or_none(thresholds[c]) for c, label in enumerate(labels)},
        "target_sensitivity": target_sensitivity,
        "case_sensitivity": {label: rates[c][0] for c, label in enumerate(labels)},
        "case_specificity": {label: rates[c][1] for c, label in enumerate(labels)},
        "n_val_cases": len(cy),
        "n_val_slices": len(sp),
        "n_val_positive_cases": {label: int(cy[:, c].sum()) for c, label in enumerate(labels)},
    }


def cohort_metrics(
    case_truth: np.ndarray,
    case_probs: np.ndarray,
    label_order: Sequence[str],
    thresholds: Mapping[str, float | None],
) -> dict[str, Any]:
    """Case-level metrics of a cohort (the paper's Table 1 columns) at fixed operating points.

    Args:
        case_truth: ``(N, C)`` 0/1 case labels (a label is present when any slice has it).
        case_probs: ``(N, C)`` case probabilities (max over slices).
        label_order: the C labels.
        thresholds: label -> operating point chosen on validation (None: no decision for that label).

    Returns:
        ``auc``, ``sensitivity``, ``specificity`` (label -> value or None where undefined), ``n_cases`` and
        ``n_positive`` per label.
    """
    y = np.asarray(case_truth).astype(np.int64)
    p = np.asarray(case_probs, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2 or y.shape[1] != len(label_order):
        raise ValueError(
            f"case_truth and case_probs must both be (N, {len(label_order)}), got {y.shape}, {p.shape}"
        )
    out: dict[str, Any] = {
        "n_cases": len(y),
        "auc": {},
        "sensitivity": {},
        "specificity": {},
        "n_positive": {},
    }
    for c, label in enumerate(label_order):
        t = thresholds.get(label)
        sens, spec = _rates(y[:, c], p[:, c], math.nan if t is None else float(t))
        both = 0 < y[:, c].sum() < len(y)
        out["auc"][label] = finite_or_none(roc_auc(y[:, c], p[:, c])) if both else None
        out["sensitivity"][label], out["specificity"][label] = sens, spec
        out["n_positive"][label] = int(y[:, c].sum())
    return out
