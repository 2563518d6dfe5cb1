"""Dataset layout on disk: DICOM series, ground truth, masks, the RSNA label CSV and the manifest.

::

    DIR/manifest.json           seed, generator, options, label rule, one record per case
    DIR/labels_rsna.csv         ID,Label; six rows per standard-series image: ID_<SOPInstanceUID>_<rsna name>
    DIR/<case_id>/series/IM0001.dcm ...   standard series, slice 1 lowest
    DIR/<case_id>/denoised/IM0001.dcm ... 3x3 median-filtered series (only with ``denoised``)
    DIR/<case_id>/ground_truth.json       per-slice labels and bleeding points, lesions
    DIR/<case_id>/masks.npz               ``lesion_<id>``: bool (Z, H, W) per lesion, compressed

Denoised images share the labels of the standard image with the same index; the CSV lists the standard
series only (``ground_truth.json`` gives both SOP Instance UIDs per slice). Files carry no timestamps, so a
rerun with the same options is byte-identical.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from ml.labels import LABELS, RSNA_NAMES, RSNA_ORDER
from ml.phantom.case import BleedingPoint, PhantomCase, generate_case
from ml.phantom.config import GENERATOR_VERSION, MASK_FRACTION, MIN_AREA_MM2, PhantomConfig

LABEL_RULE = (
    f"mask pixel: lesion fills >= {MASK_FRACTION} of the voxel; slice positive for a subtype when a "
    f"lesion mask of that subtype covers >= {MIN_AREA_MM2:.3f} mm2 (options.min_area_px pixels, at least 1); "
    "ANY = OR of subtypes; one bleeding point per connected mask part, at its pixel nearest the centroid"
)


def ground_truth_dict(case: PhantomCase) -> dict[str, Any]:
    """The ``ground_truth.json`` content of a case."""
    slices = []
    for k in range(case.n_slices):
        record: dict[str, Any] = {
            "index": k,
            "instance_number": k + 1,
            "file": f"series/IM{k + 1:04d}.dcm",
            "sop_instance_uid": case.uids.sop[k],
            "z": case.z_positions[k],
            "labels": {name: int(case.labels[k, i]) for i, name in enumerate(LABELS)},
            "points": [p.to_dict() for p in case.points_on(k)],
        }
        if case.uids.denoised_sop:
            record["denoised_sop_instance_uid"] = case.uids.denoised_sop[k]
        slices.append(record)
    return {
        "case_id": case.case_id,
        "patient_id": case.patient.patient_id,
        "study_uid": case.uids.study,
        "series_uid": case.uids.series,
        "denoised_series_uid": case.uids.denoised_series or None,
        "generator": GENERATOR_VERSION,
        "seed": case.seed,
        "index": case.index,
        "labels_order": list(LABELS),
        "subtypes": list(case.subtypes),
        "spacing_mm": list(case.spacing),
        "shape": list(case.hu.shape),
        "noise_sigma_hu": round(case.noise_sigma, 3),
        "label_rule": LABEL_RULE,
        "masks": {"file": "masks.npz", "key": "lesion_<id>", "dtype": "bool", "shape": "(Z, H, W)"},
        "slices": slices,
        "lesions": [lesion.to_dict() for lesion in case.lesions],
    }


def rsna_rows(case: PhantomCase) -> Iterator[tuple[str, int]]:
    """``(ID_<SOPInstanceUID>_<subtype>, label)`` rows of the case, six per image in RSNA order."""
    for k, sop in enumerate(case.uids.sop):
        for code in RSNA_ORDER:
            yield f"ID_{sop}_{RSNA_NAMES[code]}", int(case.labels[k, LABELS.index(code)])


def write_case(case: PhantomCase, out_dir: str | Path) -> Path:
    """Write the case under ``out_dir/<case_id>/`` (DICOM, ground truth, masks); returns that folder."""
    from ml.phantom.dicom import write_series

    case_dir = Path(out_dir) / case.case_id
    write_series(case, case_dir / "series")
    if case.denoised is not None:
        write_series(case, case_dir / "denoised", denoised=True)
    text = json.dumps(ground_truth_dict(case), indent=1)
    (case_dir / "ground_truth.json").write_text(text + "\n", encoding="utf-8")
    with open(case_dir / "masks.npz", "wb") as fh:
        # allow_pickle is numpy's default, named so that mypy does not match the ** dict against it.
        arrays = {f"lesion_{lid}": mask for lid, mask in case.masks.items()}
        np.savez_compressed(fh, allow_pickle=True, **arrays)
    return case_dir


def case_record(case: PhantomCase) -> dict[str, Any]:
    """The manifest entry of a case."""
    return {
        "case_id": case.case_id,
        "index": case.index,
        "patient_id": case.patient.patient_id,
        "study_uid": case.uids.study,
        "series_uid": case.uids.series,
        "denoised_series_uid": case.uids.denoised_series or None,
        "n_slices": case.n_slices,
        "subtypes": list(case.subtypes),
        "n_lesions": len(case.lesions),
        "n_positive_slices": int(case.labels[:, -1].sum()),
    }


def _generate_and_write(
    config: PhantomConfig, root: Path, index: int
) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    case = generate_case(config, index)
    write_case(case, root)
    return list(rsna_rows(case)), case_record(case)


def generate_dataset(
    config: PhantomConfig, out_dir: str | Path, n_cases: int, progress: bool = True, workers: int = 1
) -> dict[str, Any]:
    """Generate and write ``n_cases`` cases, the RSNA CSV and the manifest; returns the manifest.

    Cases are generated one at a time per process, so memory stays that of one case per worker. Case ``k``
    depends only on ``(config, k)``, so ``workers > 1`` processes write the same files, in case order.
    """
    from tqdm import tqdm

    if n_cases < 0:
        raise ValueError(f"n_cases must be >= 0, got {n_cases}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    records = []
    make = partial(_generate_and_write, config, root)
    with contextlib.ExitStack() as stack:
        if workers > 1 and n_cases > 1:
            pool = stack.enter_context(ProcessPoolExecutor(min(workers, n_cases)))
            results: Iterator[tuple[list[tuple[str, int]], dict[str, Any]]] = pool.map(
                make, range(n_cases), chunksize=4
            )
        else:
            results = map(make, range(n_cases))
        with open(root / "labels_rsna.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["ID", "Label"])
            for rows, record in tqdm(
                results, total=n_cases, desc="phantom cases", unit="case", disable=not progress
            ):
                writer.writerows(rows)
                records.append(record)
    manifest = {
        "generator": GENERATOR_VERSION,
        "seed": config.seed,
        "n_cases": n_cases,
        "options": config.to_dict() | {"min_area_px": config.min_area_px},
        "labels_order": list(LABELS),
        "label_rule": LABEL_RULE,
        "cases": records,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Ground truth of a written case, read back.

    Attributes:
        case_id: case folder name.
        labels: uint8 ``(Z, 6)`` in ``labels_order`` (``ml.labels.LABELS``).
        points: bleeding points of all slices.
        masks: lesion id -> bool ``(Z, H, W)``.
        sop_instance_uids: standard-series SOP Instance UID per slice.
        data: the parsed ``ground_truth.json``.
    """

    case_id: str
    labels: NDArray[np.uint8]
    points: tuple[BleedingPoint, ...]
    masks: dict[int, NDArray[np.bool_]]
    sop_instance_uids: tuple[str, ...]
    data: dict[str, Any]

    @property
    def lesions(self) -> list[dict[str, Any]]:
        """Lesion records."""
        return list(self.data["lesions"])


def read_ground_truth(case_dir: str | Path) -> GroundTruth:
    """Read ``ground_truth.json`` and ``masks.npz`` of a case folder."""
    case_dir = Path(case_dir)
    data = json.loads((case_dir / "ground_truth.json").read_text(encoding="utf-8"))
    order = data["labels_order"]
    slices = data["slices"]
    labels = np.array([[s["labels"][name] for name in order] for s in slices], dtype=np.uint8).reshape(
        -1, len(order)
    )
    points = tuple(
        BleedingPoint(s["index"], p["x"], p["y"], p["subtype"], p["lesion"])
        for s in slices
        for p in s["points"]
    )
    with np.load(case_dir / "masks.npz") as npz:
        masks = {int(key.removeprefix("lesion_")): npz[key].astype(bool) for key in npz.files}
    sops = tuple(s["sop_instance_uid"] for s in slices)
    return GroundTruth(data["case_id"], labels, points, masks, sops, data)


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a dataset folder."""
    return cast(dict[str, Any], json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8")))
