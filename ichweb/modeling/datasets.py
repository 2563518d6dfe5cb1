"""Frozen dataset snapshots: which ground truth a run trains on, and its patient-level split.

A snapshot copies the per-slice labels of every case it uses, so editing ground truth after a run started
changes nothing about that run; its sha256 names the exact data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ichweb.errors import RuleError
from ichweb.imaging.models import Series
from ichweb.labeling.models import GroundTruth
from ichweb.labeling.services import label_matrix
from ml.data import CaseData, patient_split
from ml.labels import LABELS

SPLITS = ("train", "val", "test")


class DatasetError(RuleError):
    """A dataset choice that cannot be trained on; the message says what to change."""

    def __init__(self, message: str, field: str = "dataset") -> None:
        super().__init__(message, field)


def ground_truth_cases(project_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """One case per series with ground truth (not excluded): the newest truth wins when projects overlap."""
    truths = (
        GroundTruth.objects.filter(excluded=False)
        .select_related("case__series__study")
        .prefetch_related("slices__slice")
        .order_by("created_at", "pk")
    )
    if project_ids:
        truths = truths.filter(case__project_id__in=list(project_ids))
    by_series: dict[int, dict[str, Any]] = {}
    for truth in truths:
        series = truth.case.series
        denoised = (
            Series.objects.filter(study=series.study, kind=Series.Kind.DENOISED, n_slices=series.n_slices)
            .values_list("pk", flat=True)
            .first()
        )
        by_series[series.pk] = {
            "series": series.pk,
            "study": series.study_id,
            "patient": series.study.patient_pseudo_id,
            "denoised_series": denoised,
            "ground_truth": truth.pk,
            "labels": label_matrix(truth.slices.all(), series.n_slices).tolist(),
        }
    return list(by_series.values())


def case_data(entry: dict[str, Any]) -> CaseData:
    """The ``ml`` view of a snapshot case: the stored HU volume (memory-mapped) and the frozen labels."""
    series = Series.objects.get(pk=entry["series"])
    denoised = None
    if entry.get("denoised_series"):
        other = Series.objects.filter(pk=entry["denoised_series"]).first()
        denoised = other.path / "volume.npy" if other is not None else None
    return CaseData(
        case_id=f"series-{series.pk}",
        patient_id=entry["patient"],
        hu=series.path / "volume.npy",
        labels=np.asarray(entry["labels"], dtype=np.float32),
        denoised=denoised,
    )


def make_snapshot(
    *,
    project_ids: Sequence[int] | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, Any]:
    """Collect the ground truth and split it at patient level (``ml.data.patient_split``, stratified by ICH).

    Raises:
        DatasetError: no ground truth, or a split without a training case or an ICH validation case.
    """
    entries = ground_truth_cases(project_ids)
    if not entries:
        where = "the chosen projects" if project_ids else "any project"
        raise DatasetError(
            f"no ground truth in {where}: finish consensus in a labeling project or import ground truth "
            "first",
            field="projects",
        )
    cases = [case_data(e) for e in entries]
    try:
        train, val, test = patient_split(cases, val_fraction, test_fraction, seed=seed)
    except ValueError as exc:
        raise DatasetError(str(exc), field="val_fraction") from None
    split_of = {c.case_id: name for name, part in zip(SPLITS, (train, val, test), strict=True) for c in part}
    for entry, case in zip(entries, cases, strict=True):
        entry["split"] = split_of[case.case_id]
    if not train:
        raise DatasetError("the split leaves no training case: add ground truth or lower the fractions")
    if not any(c.is_positive for c in val):
        raise DatasetError(
            f"the validation set ({len(val)} cases) has no ICH case, so no operating point can be chosen: "
            "add ICH cases with ground truth or raise the validation fraction",
            field="val_fraction",
        )
    return {
        "source": {"projects": sorted(project_ids) if project_ids else "all"},
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "seed": seed,
        "label_order": list(LABELS),
        "cases": entries,
    }


def snapshot_sha256(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True).encode()).hexdigest()


def split_cases(snapshot: dict[str, Any]) -> dict[str, list[CaseData]]:
    """Train, val and test ``CaseData`` of a snapshot."""
    out: dict[str, list[CaseData]] = {name: [] for name in SPLITS}
    for entry in snapshot["cases"]:
        out[entry["split"]].append(case_data(entry))
    return out
