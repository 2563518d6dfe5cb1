"""Which study design a table of readings is, and its ratings as blocks of cases read in common.

Designs (``detect_design``):

* ``"crossed"`` (fully crossed, paired readers and paired cases): every reader reads every case in every
  treatment. One block: all ``t x r`` (treatment, reader) estimates on all ``c`` cases.
* ``"nested-treatment"`` (cases nested within treatment): each treatment has its own cases, read by every
  reader of the study. One block per treatment; estimates of different treatments share no case, so their
  covariances (OR's Cov1 and Cov3) are 0 by construction.
* ``"nested-reader"`` (each case read by one reader) and ``"partial"`` (anything else) are recognised and
  refused with a message saying why.

A block is what the figures of merit and covariance estimators work on: ``(E, c_b)`` ratings of ``E``
(treatment, reader) estimates over the block's ``c_b`` cases, and the cases' truth.

Part of ``ml.mrmc``; import the names from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ml.mrmc.readings import MRMCInputError, Readings

__all__ = ["DESIGNS", "CaseBlock", "Design", "case_blocks", "detect_design"]

Design = Literal["crossed", "nested-treatment", "nested-reader", "partial"]

#: What each design is called in reports.
DESIGNS: dict[str, str] = {
    "crossed": "fully crossed (every reader reads every case in every treatment)",
    "nested-treatment": "cases nested within treatment (each treatment has its own cases)",
    "nested-reader": "cases nested within readers (each case read by one reader)",
    "partial": "partially crossed",
}

# How many missing cases a message lists before "and N more".
_SHOWN = 5


@dataclass(frozen=True, eq=False)
class CaseBlock:
    """The ratings of some (treatment, reader) estimates over a set of cases they all read.

    Attributes:
        treatment: ``(E,)`` each estimate's treatment index.
        reader: ``(E,)`` each estimate's reader index.
        cases: ``(c_b,)`` the block's case indices into ``Readings.cases``.
        truth: ``(c_b,)`` True for a diseased case.
        ratings: ``(E, c_b)`` the ratings.
    """

    treatment: NDArray[np.intp]
    reader: NDArray[np.intp]
    cases: NDArray[np.intp]
    truth: NDArray[np.bool_]
    ratings: NDArray[np.float64] = field(repr=False)

    @property
    def n_diseased(self) -> int:
        return int(self.truth.sum())

    @property
    def n_non_diseased(self) -> int:
        return int(self.truth.size - self.truth.sum())

    def only(self, diseased: bool) -> CaseBlock:
        """The block restricted to its diseased (or non-diseased) cases."""
        keep = self.truth == diseased
        return CaseBlock(
            self.treatment, self.reader, self.cases[keep], self.truth[keep], self.ratings[:, keep]
        )


def _read_by(readings: Readings) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Readings per (treatment, reader, case), and distinct readers per case."""
    t, r, c = readings.n_treatments, readings.n_readers, readings.n_cases
    cell = (readings.treatment_of * r + readings.reader_of) * c + readings.case_of
    counts = np.bincount(cell, minlength=t * r * c).reshape(t, r, c)
    readers_per_case = (counts.sum(axis=0) > 0).sum(axis=0)
    return counts, readers_per_case


def detect_design(readings: Readings) -> Design:
    """The design of the table (see the module docstring): the first of nested-reader, crossed,
    nested-treatment that fits, else partial."""
    counts, readers_per_case = _read_by(readings)
    treatments_per_case = (counts.sum(axis=1) > 0).sum(axis=0)
    if readings.n_readers > 1 and (readers_per_case == 1).all():
        return "nested-reader"
    if (treatments_per_case == readings.n_treatments).all():
        return "crossed"
    if readings.n_treatments > 1 and (treatments_per_case == 1).all():
        return "nested-treatment"
    return "partial"


def _names(labels: tuple[str, ...], index: NDArray[np.intp]) -> str:
    shown = ", ".join(repr(labels[i]) for i in index[:_SHOWN])
    return shown + (f" (and {index.size - _SHOWN} more)" if index.size > _SHOWN else "")


def _check_complete(
    readings: Readings, counts: NDArray[np.int64], cases: list[NDArray[np.intp]], design: str
) -> None:
    """Every reader read every one of ``cases[i]`` in treatment ``i`` (counts: ``(t, r, c)``)."""
    for treatment in range(counts.shape[0]):
        for reader in range(counts.shape[1]):
            missing = cases[treatment][counts[treatment, reader, cases[treatment]] == 0]
            if missing.size == 0:
                continue
            who = f"reader {readings.readers[reader]!r}"
            where = f"in treatment {readings.treatments[treatment]!r}"
            if missing.size == cases[treatment].size:
                what = f"{who} read no case {where}"
            else:
                what = f"{who} skipped {missing.size} case(s) {where}: {_names(readings.cases, missing)}"
            raise MRMCInputError(
                f"{readings.source}: {what}; a {design} analysis needs every reader to read every case of "
                "each treatment: add the missing readings, or leave the reader out"
            )


def _check_both_classes(readings: Readings, truth: NDArray[np.bool_], where: str) -> None:
    n_pos = int(truth.sum())
    if n_pos == 0 or n_pos == truth.size:
        kind = "diseased (truth 1)" if n_pos else "non-diseased (truth 0)"
        raise MRMCInputError(
            f"{readings.source}: all {truth.size} cases{where} are {kind}; an ROC analysis needs both "
            "diseased and non-diseased cases"
        )


def _refuse(readings: Readings, design: Design, counts: NDArray[np.int64]) -> None:
    if design == "nested-reader":
        raise MRMCInputError(
            f"{readings.source}: {DESIGNS[design]}: this design is not supported; use the case labels that "
            "every reader shares (a fully crossed table), or cases nested within treatment"
        )
    in_treatments = counts.sum(axis=1) > 0
    odd = int(np.flatnonzero(in_treatments.sum(axis=0) != readings.n_treatments)[0])
    only = [readings.treatments[i] for i in np.flatnonzero(in_treatments[:, odd])]
    raise MRMCInputError(
        f"{readings.source}: case {readings.cases[odd]!r} is read in treatment(s) "
        f"{', '.join(map(repr, only))} only, while other cases are read in several: the design is neither "
        "fully crossed nor cases nested within treatment; add the missing readings or drop the case"
    )


def case_blocks(readings: Readings) -> tuple[Design, list[CaseBlock]]:
    """The design and its blocks of ratings (estimates in treatment-major order, ``e = i r + j``).

    Raises:
        MRMCInputError: an unsupported design (cases nested within readers, partially crossed); a reader who
            skipped cases (named with the treatment and the first missing cases); a block whose cases are
            all diseased or all non-diseased.
    """
    design = detect_design(readings)
    counts, _ = _read_by(readings)
    t, r, c = counts.shape
    if design in ("nested-reader", "partial"):
        _refuse(readings, design, counts)
    ratings = np.full(t * r * c, np.nan)
    ratings[(readings.treatment_of * r + readings.reader_of) * c + readings.case_of] = readings.rating
    ratings = ratings.reshape(t, r, c)
    readers = np.arange(r)
    if design == "crossed":
        every = np.arange(c)
        _check_complete(readings, counts, [every] * t, "fully crossed")
        _check_both_classes(readings, readings.truth, "")
        return design, [
            CaseBlock(
                np.repeat(np.arange(t), r),
                np.tile(readers, t),
                every,
                readings.truth,
                ratings.reshape(t * r, c),
            )
        ]
    own = [np.flatnonzero(counts[i].sum(axis=0) > 0) for i in range(t)]
    _check_complete(readings, counts, own, "cases-nested-within-treatment")
    blocks = []
    for i, cases in enumerate(own):
        truth = readings.truth[cases]
        _check_both_classes(readings, truth, f" of treatment {readings.treatments[i]!r}")
        blocks.append(CaseBlock(np.full(r, i), readers, cases, truth, ratings[i][:, cases]))
    return design, blocks
