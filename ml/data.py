"""Training data: case records, the phantom-layout reader and the patient-level split (docs/science.md, "Data
and labelling").

A ``CaseData`` is one CT series with per-slice labels in ``LABELS`` order. ``load_phantom_dataset`` reads a
folder in the layout of ``ml.phantom`` (``manifest.json``, ``<case_id>/series/*.dcm``, optional
``<case_id>/denoised/*.dcm``, ``<case_id>/ground_truth.json``); ``patient_split`` divides the cases into
training, validation and test sets with no patient in two sets. The slice dataset that feeds the networks
lives in ``ml.slices`` (it needs torch; this module does not).

Example::

    >>> cases = load_phantom_dataset("var/phantom", cache_dir="var/cache")
    >>> train, val, test = patient_split(cases, val_fraction=0.2, test_fraction=0.2, seed=0)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from ml.labels import LABELS

__all__ = [
    "CaseData",
    "DatasetError",
    "load_phantom_dataset",
    "patient_split",
    "slice_labels",
]

logger = logging.getLogger("ml.data")

EXPECTED_LAYOUT = "manifest.json and <case_id>/series/*.dcm + <case_id>/ground_truth.json per case"


class DatasetError(ValueError):
    """A dataset folder that is missing or not in the expected layout."""


@dataclass(frozen=True, eq=False)
class CaseData:
    """One CT series and its per-slice labels.

    Args:
        case_id: unique case name.
        patient_id: the patient; the split keeps a patient's cases together.
        hu: int16 HU volume ``(Z, H, W)``, slice 0 lowest, or the path of a ``.npy`` of it (memory-mapped on
            access, so large datasets need not fit in memory).
        labels: ``(Z, 6)`` float32 0/1 in ``LABELS`` order.
        denoised: the scanner's denoised series (array or ``.npy`` path) when there is one (M4 noise).
    """

    case_id: str
    patient_id: str
    hu: NDArray[np.int16] | Path
    labels: NDArray[np.float32]
    denoised: NDArray[np.int16] | Path | None = None

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels, dtype=np.float32)
        if labels.ndim != 2 or labels.shape[1] != len(LABELS):
            raise ValueError(f"{self.case_id}: labels must be (Z, {len(LABELS)}), got {labels.shape}")
        object.__setattr__(self, "labels", labels)
        for name in ("hu", "denoised"):
            value = getattr(self, name)
            if isinstance(value, str | os.PathLike):
                object.__setattr__(self, name, Path(value))
            elif value is not None and (np.ndim(value) != 3 or len(value) != len(labels)):
                raise ValueError(
                    f"{self.case_id}: {name} must be (Z={len(labels)}, H, W), got {np.shape(value)}"
                )

    @property
    def n_slices(self) -> int:
        return int(self.labels.shape[0])

    @property
    def is_positive(self) -> bool:
        """Any slice labelled "any ICH" (a case-level ICH case)."""
        return bool(self.labels[:, LABELS.index("ANY")].any())

    def volume(self) -> NDArray[np.int16]:
        """The HU volume ``(Z, H, W)`` (memory-mapped when stored as a path)."""
        return _array(self.hu)

    def denoised_volume(self) -> NDArray[np.int16] | None:
        return None if self.denoised is None else _array(self.denoised)


def _array(value: NDArray[np.int16] | Path) -> NDArray[np.int16]:
    if isinstance(value, Path):
        return cast(NDArray[np.int16], np.load(value, mmap_mode="r"))
    return value


def slice_labels(cases: Sequence[CaseData], n_outputs: int = len(LABELS)) -> NDArray[np.float32]:
    """All slices' labels ``(sum Z, n_outputs)``; M1 keeps the first five columns (the subtypes)."""
    if not cases:
        return np.zeros((0, n_outputs), dtype=np.float32)
    return np.concatenate([c.labels[:, :n_outputs] for c in cases])


def _ground_truth(case_dir: Path) -> tuple[str, NDArray[np.float32], NDArray[np.float64], str]:
    """``(patient_id, labels (Z, 6), slice z (Z,), series UID)`` of a case folder, slices in z order."""
    path = case_dir / "ground_truth.json"
    if not path.is_file():
        raise DatasetError(f"{path} not found; expected {EXPECTED_LAYOUT}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    slices = sorted(data["slices"], key=lambda s: (float(s.get("z", 0.0)), int(s.get("index", 0))))
    labels = np.array([[s["labels"][name] for name in LABELS] for s in slices], dtype=np.float32)
    z = np.array([float(s.get("z", np.nan)) for s in slices], dtype=np.float64)
    return str(data.get("patient_id") or data["case_id"]), labels, z, str(data.get("series_uid", ""))


def _cached_series(
    folder: Path, cache: Path | None, key: str
) -> tuple[NDArray[np.int16] | Path, NDArray[np.float64] | None]:
    """The series (``ml.series.read_series``) as an array, or as the path of its ``.npy`` in ``cache``
    (written on first use); with the slices' z positions when the DICOM files were read."""
    from ml.series import SeriesError, read_series

    if cache is not None:
        path = cache / f"{key}.npy"
        if path.is_file():
            return path, None
    try:
        hu, info = read_series(folder)
    except SeriesError as exc:
        raise DatasetError(f"{folder}: {exc}; expected {EXPECTED_LAYOUT}") from None
    if cache is None:
        return hu, info.z
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f"{key}.tmp.npy"
    np.save(tmp, hu)
    os.replace(tmp, path)
    return path, info.z


def _positions_differ(read_z: NDArray[np.float64] | None, z: NDArray[np.float64]) -> bool:
    if read_z is None or read_z.shape != z.shape:
        return read_z is not None
    known = np.isfinite(read_z) & np.isfinite(z)
    return not np.allclose(read_z[known], z[known], atol=0.01)


def load_phantom_dataset(directory: str | Path, cache_dir: str | Path | None = None) -> list[CaseData]:
    """Read every case of a phantom-layout dataset (``ml.phantom.storage``) in manifest order.

    Labels come from ``ground_truth.json`` (``slices[i].labels``), ordered by slice z like the DICOM files.
    With ``cache_dir``, each series is stored there once as ``<case_id>-<series hash>.npy`` and later loads
    only memory-map it (the hash of the SeriesInstanceUID makes a regenerated dataset miss the cache).

    Raises:
        DatasetError: ``directory`` missing, no ``manifest.json``, a case folder or file missing, or labels
            that do not match the series; the message names the path and what is expected.
    """
    root = Path(directory)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder; expected a dataset folder with {EXPECTED_LAYOUT}")
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise DatasetError(f"{root}: not a dataset (no manifest.json); expected {EXPECTED_LAYOUT}")
    try:
        records = json.loads(manifest_path.read_text(encoding="utf-8"))["cases"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"{manifest_path}: not a dataset manifest ({exc}); expected a 'cases' list"
        ) from None
    cache = Path(cache_dir) if cache_dir is not None else None
    cases = []
    for record in records:
        case_id = str(record["case_id"])
        case_dir = root / case_id
        patient_id, labels, z, series_uid = _ground_truth(case_dir)
        key = f"{case_id}-{hashlib.sha1(series_uid.encode()).hexdigest()[:12]}"  # noqa: S324
        hu, read_z = _cached_series(case_dir / "series", cache, key)
        if _positions_differ(read_z, z):
            raise DatasetError(f"{case_dir}: the DICOM slice positions differ from ground_truth.json's z")
        denoised = None
        if (case_dir / "denoised").is_dir():
            denoised, _ = _cached_series(case_dir / "denoised", cache, key + "-denoised")
        case = CaseData(case_id, patient_id, hu, labels, denoised)
        if case.volume().shape[0] != case.n_slices:
            raise DatasetError(f"{case_dir}: {case.volume().shape[0]} DICOM slices, {case.n_slices} labelled")
        cases.append(case)
    logger.info("loaded %d cases from %s", len(cases), root)
    return cases


def _sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """``(n_test, n_val)`` of a stratum of ``n`` patients.

    Rounded shares, but a set asking for patients gets at least one while training keeps one; validation
    (model selection, thresholds) comes before test when there are too few.
    """
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = max(n_val, 1)
    if test_fraction > 0 and n >= 3:
        n_test = max(n_test, 1)
    while n_test + n_val > max(n - 1, 0):
        if n_test > 0 and (n_test >= n_val or n_val <= 1):
            n_test -= 1
        else:
            n_val -= 1
    return n_test, n_val


def _balanced_val(
    patients: list[str], groups: dict[str, list[CaseData]], n_cases: int
) -> tuple[list[str], list[str]]:
    """Pick patients until the validation set has ``n_cases // 2`` ICH and the rest non-ICH cases."""
    want_pos = n_cases // 2
    want_neg = n_cases - want_pos
    chosen, rest = [], []
    for pid in patients:
        pos = sum(c.is_positive for c in groups[pid])
        neg = len(groups[pid]) - pos
        if pos <= want_pos and neg <= want_neg and (want_pos or want_neg):
            chosen.append(pid)
            want_pos -= pos
            want_neg -= neg
        else:
            rest.append(pid)
    if want_pos or want_neg:
        raise ValueError(
            f"cannot build a balanced validation set of {n_cases} cases: {want_pos} ICH and {want_neg} "
            "non-ICH cases short after the test set"
        )
    return chosen, rest


def patient_split(
    cases: Sequence[CaseData],
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratify_by_any: bool = True,
    balanced_val_cases: int | None = None,
) -> tuple[list[CaseData], list[CaseData], list[CaseData]]:
    """Split cases into (train, val, test) at patient level (docs/science.md, "Data and labelling").

    Patients are shuffled with ``seed``; a patient is ICH-positive when any of its cases is. With
    ``stratify_by_any`` the positive and the negative patients are split separately, each stratum giving
    ``round(fraction x size)`` patients to test and to validation, and at least one to each while training
    keeps one (validation first), so every set gets positives when there are enough.
    ``balanced_val_cases=n`` instead builds the paper's validation set: ``n/2`` ICH and ``n/2`` non-ICH
    cases from random patients (the paper: 100 + 100).
    Fractions count patients, not cases. Each returned list keeps the input order.

    Raises:
        ValueError: fractions outside [0, 1) or summing to 1 or more, or a balanced set that cannot be met.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"need fractions in [0, 1) summing below 1, got {val_fraction}, {test_fraction}")
    groups: dict[str, list[CaseData]] = {}
    for case in cases:
        groups.setdefault(case.patient_id, []).append(case)
    rng = np.random.default_rng(seed)
    patients = [str(p) for p in rng.permutation(sorted(groups))]
    positive = {p for p in patients if any(c.is_positive for c in groups[p])}
    strata = [[p for p in patients if p in positive], [p for p in patients if p not in positive]]
    if not stratify_by_any:
        strata = [patients]

    test: list[str] = []
    val: list[str] = []
    remaining: list[list[str]] = []
    for stratum in strata:
        n_test, n_val = _sizes(
            len(stratum), 0 if balanced_val_cases is not None else val_fraction, test_fraction
        )
        test += stratum[:n_test]
        val += stratum[n_test : n_test + n_val]
        remaining.append(stratum[n_test + n_val :])
    train = [p for stratum in remaining for p in stratum]
    if balanced_val_cases is not None:
        val, train = _balanced_val([p for p in patients if p in set(train)], groups, balanced_val_cases)

    def members(ids: list[str]) -> list[CaseData]:
        keep = set(ids)
        return [c for c in cases if c.patient_id in keep]

    return members(train), members(val), members(test)
