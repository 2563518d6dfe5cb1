"""Fake patient identity and deterministic DICOM UIDs of a phantom case.

The identity is invented (made-up name lists), but it fills every field a de-identification step must remove:
name, ID, birth date, institution, referring physician, accession number, dates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ml.phantom.config import PhantomConfig

_FAMILY = (
    "Doe", "Roe", "Quill", "Marrow", "Tansy", "Birchall", "Fenwick", "Oakridge", "Pellham", "Vantry",
    "Corwen", "Haldane", "Iverley", "Lorimer", "Moss", "Nettleby", "Orrin", "Sallow", "Thistlewood", "Wren",
)  # fmt: skip
_GIVEN = {
    "F": ("Jane", "Ada", "Maren", "Iris", "Tilda", "Nora", "Elin", "Sybil", "Wilma", "Greta"),
    "M": ("John", "Ansel", "Bram", "Cyril", "Dorian", "Ezra", "Hugo", "Linus", "Otto", "Silas"),
}
_INSTITUTIONS = ("Phantom General Hospital", "St. Nowhere Medical Centre", "Imaginary County Infirmary")
_PHYSICIANS = ("Hartley^Sam^^Dr", "Okafor^Lee^^Dr", "Brandt^Kim^^Dr", "Moreau^Alex^^Dr")


@dataclass(frozen=True)
class PatientIdentity:
    """The invented patient and study identity written into the DICOM headers (DICOM value formats)."""

    name: str
    patient_id: str
    birth_date: str
    sex: str
    age: str
    institution: str
    referring_physician: str
    accession_number: str
    study_date: str
    study_time: str


@dataclass(frozen=True)
class CaseUIDs:
    """DICOM UIDs of a case; the ``denoised`` ones are empty when no denoised series is made."""

    study: str
    series: str
    frame_of_reference: str
    sop: tuple[str, ...]
    denoised_series: str
    denoised_sop: tuple[str, ...]


def make_identity(rng: np.random.Generator, seed: int, index: int) -> PatientIdentity:
    """A made-up patient for case ``index`` of dataset ``seed``."""
    sex = "F" if rng.uniform() < 0.5 else "M"
    family = _FAMILY[int(rng.integers(len(_FAMILY)))]
    given = _GIVEN[sex][int(rng.integers(len(_GIVEN[sex])))]
    study = dt.datetime(2024, 1, 1) + dt.timedelta(
        days=int(rng.integers(730)), seconds=int(rng.integers(86400))
    )
    age = int(rng.integers(18, 95))
    birth = study.date() - dt.timedelta(days=365 * age + int(rng.integers(365)))
    return PatientIdentity(
        name=f"{family}^{given}^{index + 1:04d}",
        patient_id=f"PH-{seed}-{index + 1:04d}",
        birth_date=birth.strftime("%Y%m%d"),
        sex=sex,
        age=f"{age:03d}Y",
        institution=_INSTITUTIONS[int(rng.integers(len(_INSTITUTIONS)))],
        referring_physician=_PHYSICIANS[int(rng.integers(len(_PHYSICIANS)))],
        accession_number=f"ACC{int(rng.integers(10**8, 10**9))}",
        study_date=study.strftime("%Y%m%d"),
        study_time=study.strftime("%H%M%S"),
    )


def make_uids(config: PhantomConfig, index: int, n_slices: int) -> CaseUIDs:
    """UIDs derived from the options and the case index only, so a rerun reproduces them exactly."""
    from pydicom.uid import generate_uid

    options = json.dumps(config.to_dict(), sort_keys=True)
    fingerprint = hashlib.sha256(options.encode()).hexdigest()[:16]

    def uid(*parts: object) -> str:
        return str(generate_uid(entropy_srcs=["ichweb-phantom", fingerprint, str(index), *map(str, parts)]))

    denoised = config.denoised
    return CaseUIDs(
        study=uid("study"),
        series=uid("series"),
        frame_of_reference=uid("frame"),
        sop=tuple(uid("sop", k) for k in range(n_slices)),
        denoised_series=uid("denoised-series") if denoised else "",
        denoised_sop=tuple(uid("denoised-sop", k) for k in range(n_slices)) if denoised else (),
    )
