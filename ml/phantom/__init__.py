"""Synthetic head CT with ground truth: the data source of every ICHweb test, demo and benchmark.

No patient data reaches our machines, so this package draws realistic unenhanced head CT cases in Hounsfield
units (skull, scalp, dura, grey and white matter, ventricles, sulci and cisterns, skull-base bone and
calcified bleed mimics) with the five haemorrhage subtypes in their typical shapes, places and attenuation,
scanner noise and an optional denoised series, and writes them as real DICOM CT series with per-slice labels,
per-lesion masks and bleeding points (what docs/science.md needs: labels, M3 windows, M4 denoising,
localisation check).

Example::

    from ml.phantom import PhantomConfig, generate_case, generate_dataset

    case = generate_case(PhantomConfig(seed=1, size=128), index=0)   # in memory
    case.hu.shape, case.labels.shape                                  # (Z, 128, 128), (Z, 6)
    generate_dataset(PhantomConfig(seed=1), "var/phantom", n_cases=10)

Command line: ``python -m ml.phantom --cases 10 --seed 1 --out var/phantom``.
"""

from __future__ import annotations

from ml.phantom.case import BleedingPoint, LesionTruth, PhantomCase, generate_case
from ml.phantom.config import (
    DEFAULT_PREVALENCE,
    GENERATOR_VERSION,
    LESION_HU,
    MASK_FRACTION,
    MIN_AREA_MM2,
    PhantomConfig,
    parse_prevalence,
)
from ml.phantom.identity import CaseUIDs, PatientIdentity
from ml.phantom.storage import (
    LABEL_RULE,
    GroundTruth,
    generate_dataset,
    ground_truth_dict,
    read_ground_truth,
    read_manifest,
    rsna_rows,
    write_case,
)

__all__ = [
    "DEFAULT_PREVALENCE",
    "GENERATOR_VERSION",
    "LABEL_RULE",
    "LESION_HU",
    "MASK_FRACTION",
    "MIN_AREA_MM2",
    "BleedingPoint",
    "CaseUIDs",
    "GroundTruth",
    "LesionTruth",
    "PatientIdentity",
    "PhantomCase",
    "PhantomConfig",
    "generate_case",
    "generate_dataset",
    "ground_truth_dict",
    "parse_prevalence",
    "read_ground_truth",
    "read_manifest",
    "rsna_rows",
    "write_case",
]
