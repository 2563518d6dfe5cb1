"""The readings of a reader study: a long table, one row per reading, checked row by row.

A reading is one reader's rating of one case in one treatment (modality). The table has the columns
``reader, treatment, case, truth, rating`` (the names of the R packages MRMCaov and RJafroc); other columns
are ignored. Readers, treatments and cases keep their labels as strings, in the order in which they first
appear. ``truth`` is 1 for a diseased case and 0 for a non-diseased one, the same in every row of the case;
``rating`` is any finite number, higher meaning more confident that the case is diseased.

Every problem is an ``MRMCInputError`` (a ``ValueError``) whose message names the row, column, case or
reader at fault and says what to do. Whether the readings make a complete design is checked later, by
``ml.mrmc.design``.

Part of ``ml.mrmc``; import the names from there.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["COLUMNS", "MRMCInputError", "Readings", "read_readings"]

#: The columns a table of readings must have (others are ignored).
COLUMNS = ("reader", "treatment", "case", "truth", "rating")

#: A column of the table: a list (or other sequence) or a 1-D array, one value per reading.
Column = Sequence[object] | NDArray[Any]

# Values that mean "no value" in a cell.
_MISSING = {"", "na", "nan", "null", "none"}


class MRMCInputError(ValueError):
    """Readings or settings an MRMC analysis cannot use; the message says what is wrong and what to do."""


def _first_appearance(values: NDArray[np.str_]) -> tuple[tuple[str, ...], NDArray[np.intp]]:
    """The distinct values in order of first appearance, and each value's index into them."""
    distinct, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(order.size, dtype=np.intp)
    rank[order] = np.arange(order.size)
    return tuple(str(v) for v in distinct[order]), rank[inverse.ravel()]


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING


def _numbers(values: Column, column: str, where: _RowNames) -> NDArray[np.float64]:
    """``values`` as floats, or an error naming the first row whose value is not a finite number."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        numbers = None
    if numbers is not None and numbers.ndim == 1 and np.isfinite(numbers).all():
        return numbers
    for row, value in enumerate(values):
        try:
            ok = not _is_missing(value) and math.isfinite(float(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            shown = "an empty cell" if value is None or str(value).strip() == "" else f"{value!r}"
            raise MRMCInputError(
                f"{where(row)}: column {column!r} holds {shown}, not a finite number; "
                f"give every row a numeric {column}"
            )
    raise MRMCInputError(f"{where.source}: column {column!r} must be a flat list of numbers")


@dataclass(frozen=True)
class _RowNames:
    """How messages name a row: ``<source> line 7`` (a file's line numbers) or ``<source> row 6`` (lists)."""

    source: str
    lines: tuple[int, ...] | None = None

    def __call__(self, row: int) -> str:
        if self.lines is None:
            return f"{self.source} row {row + 1}"
        return f"{self.source} line {self.lines[row]}"


def _labels(values: Column, column: str, where: _RowNames) -> NDArray[np.str_]:
    texts = np.array(["" if _is_missing(v) else str(v).strip() for v in values], dtype=np.str_)
    empty = np.flatnonzero(texts == "")
    if empty.size:
        raise MRMCInputError(
            f"{where(int(empty[0]))}: column {column!r} is empty; name the {column} of every row"
        )
    return texts


def _truth_per_case(
    truth_values: Column, case_of: NDArray[np.intp], cases: tuple[str, ...], where: _RowNames
) -> NDArray[np.bool_]:
    """Each case's truth (True: diseased), checked to be 0 or 1 and the same in every row of the case."""
    for row, value in enumerate(truth_values):
        if _is_missing(value):
            raise MRMCInputError(
                f"{where(row)}: case {cases[case_of[row]]!r} has no truth; "
                "give every reading of the case a truth of 1 (diseased) or 0 (non-diseased)"
            )
    try:
        truth = np.asarray(truth_values, dtype=np.float64)
    except (TypeError, ValueError):
        truth = np.array([_float_or_nan(v) for v in truth_values])
    bad = np.flatnonzero(~np.isin(truth, (0.0, 1.0)))
    if bad.size:
        row = int(bad[0])
        raise MRMCInputError(
            f"{where(row)}: case {cases[case_of[row]]!r} has truth {truth_values[row]!r}; "
            "truth must be 1 (diseased) or 0 (non-diseased)"
        )
    positive = truth == 1.0
    ones = np.bincount(case_of, weights=positive, minlength=len(cases))
    rows = np.bincount(case_of, minlength=len(cases))
    mixed = np.flatnonzero((ones > 0) & (ones < rows))
    if mixed.size:
        case = int(mixed[0])
        in_case = case_of == case
        one_row = int(np.flatnonzero(in_case & positive)[0])
        zero_row = int(np.flatnonzero(in_case & ~positive)[0])
        raise MRMCInputError(
            f"case {cases[case]!r} has truth 1 in {where(one_row)} but 0 in {where(zero_row)}; "
            "a case's truth must be the same in every row"
        )
    return ones > 0


def _float_or_nan(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True, eq=False)
class Readings:
    """A checked table of readings: labels in order of first appearance and one index array per column.

    Build one with ``Readings.from_columns``, ``Readings.from_records`` or ``read_readings``; the
    constructor itself trusts its arguments.

    Attributes:
        treatments: the treatment (modality) labels.
        readers: the reader labels.
        cases: the case labels.
        truth: ``(n_cases,)`` True for a diseased case.
        treatment_of: ``(n,)`` each reading's index into ``treatments``.
        reader_of: ``(n,)`` each reading's index into ``readers``.
        case_of: ``(n,)`` each reading's index into ``cases``.
        rating: ``(n,)`` the ratings.
        source: what messages call the table (a path, or "readings").

    Example::

        >>> r = Readings.from_columns(reader=["a", "a"], treatment=["1", "1"], case=["x", "y"],
        ...                           truth=[1, 0], rating=[4, 2])
        >>> r.readers, r.n_cases
        (('a',), 2)
    """

    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: tuple[str, ...]
    truth: NDArray[np.bool_] = field(repr=False)
    treatment_of: NDArray[np.intp] = field(repr=False)
    reader_of: NDArray[np.intp] = field(repr=False)
    case_of: NDArray[np.intp] = field(repr=False)
    rating: NDArray[np.float64] = field(repr=False)
    source: str = "readings"

    @property
    def n_treatments(self) -> int:
        return len(self.treatments)

    @property
    def n_readers(self) -> int:
        return len(self.readers)

    @property
    def n_cases(self) -> int:
        return len(self.cases)

    @classmethod
    def from_columns(
        cls,
        reader: Column,
        treatment: Column,
        case: Column,
        truth: Column,
        rating: Column,
        *,
        source: str = "readings",
        lines: Sequence[int] | None = None,
    ) -> Readings:
        """Readings from five equally long columns (lists or arrays), checked.

        Args:
            reader, treatment, case: labels (turned into stripped strings; ``1`` and ``"1"`` are one label).
            truth: 1 (diseased) or 0 (non-diseased), the same in every row of a case.
            rating: finite numbers, higher meaning more likely diseased.
            source: what messages call the table.
            lines: the file line of each row, for messages (None: rows are named "row 1", "row 2", ...).

        Raises:
            MRMCInputError: columns of unequal length or empty; an empty label; a rating that is not a
                finite number; a case without truth, with a truth other than 0/1, or with two truths; a
                reader who rated one case twice in one treatment.
        """
        where = _RowNames(source, None if lines is None else tuple(lines))
        columns = {"reader": reader, "treatment": treatment, "case": case, "truth": truth, "rating": rating}
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) != 1:
            raise MRMCInputError(
                f"{source}: the columns have different lengths {lengths}; give one value per row"
            )
        if lengths["reader"] == 0:
            raise MRMCInputError(f"{source}: no readings; the table needs one row per reading")
        readers, reader_of = _first_appearance(_labels(reader, "reader", where))
        treatments, treatment_of = _first_appearance(_labels(treatment, "treatment", where))
        cases, case_of = _first_appearance(_labels(case, "case", where))
        ratings = _numbers(rating, "rating", where)
        truths = _truth_per_case(truth, case_of, cases, where)
        made = cls(treatments, readers, cases, truths, treatment_of, reader_of, case_of, ratings, source)
        made._check_no_repeats(where)
        return made

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]], *, source: str = "readings") -> Readings:
        """Readings from mappings with (at least) the keys ``COLUMNS``, one per reading; see ``from_columns``.

        Raises:
            MRMCInputError: a record lacks a column, or anything ``from_columns`` refuses.
        """
        rows = list(records)
        for number, row in enumerate(rows, start=1):
            missing = [name for name in COLUMNS if name not in row]
            if missing:
                raise MRMCInputError(
                    f"{source} row {number}: missing column(s) {', '.join(map(repr, missing))}; "
                    f"every reading needs {', '.join(COLUMNS)}"
                )
        columns = {name: [row[name] for row in rows] for name in COLUMNS}
        return cls.from_columns(**columns, source=source)  # type: ignore[arg-type]

    def subset(
        self, *, treatments: Sequence[str] | None = None, readers: Sequence[str] | None = None
    ) -> Readings:
        """The readings of some treatments and/or readers only (labels keep their order; unread cases go).

        Raises:
            MRMCInputError: a label that is not in the table.
        """
        keep = np.ones(self.rating.size, dtype=bool)
        for kind, wanted, labels, index in (
            ("treatment", treatments, self.treatments, self.treatment_of),
            ("reader", readers, self.readers, self.reader_of),
        ):
            if wanted is None:
                continue
            unknown = [w for w in wanted if w not in labels]
            if unknown:
                raise MRMCInputError(
                    f"{self.source}: no {kind} {unknown[0]!r}; the {kind}s are {', '.join(map(repr, labels))}"
                )
            keep &= np.isin(index, [labels.index(w) for w in wanted])
        return self._rows(keep)

    def _rows(self, keep: NDArray[np.bool_]) -> Readings:
        def relabel(
            labels: tuple[str, ...], index: NDArray[np.intp]
        ) -> tuple[tuple[str, ...], NDArray[np.intp]]:
            used = np.unique(index[keep])  # sorted, so the labels keep their order
            new = np.full(len(labels), -1, dtype=np.intp)
            new[used] = np.arange(used.size)
            return tuple(labels[i] for i in used), new[index[keep]]

        treatments, treatment_of = relabel(self.treatments, self.treatment_of)
        readers, reader_of = relabel(self.readers, self.reader_of)
        cases, case_of = relabel(self.cases, self.case_of)
        truth = self.truth[np.unique(self.case_of[keep])]
        return Readings(
            treatments,
            readers,
            cases,
            truth,
            treatment_of,
            reader_of,
            case_of,
            self.rating[keep],
            self.source,
        )

    def _check_no_repeats(self, where: _RowNames) -> None:
        cell = (self.treatment_of * self.n_readers + self.reader_of) * self.n_cases + self.case_of
        _, first, counts = np.unique(cell, return_index=True, return_counts=True)
        if (counts > 1).any():
            row = int(first[np.flatnonzero(counts > 1)[0]])
            again = int(np.flatnonzero(cell == cell[row])[1])
            raise MRMCInputError(
                f"reader {self.readers[self.reader_of[row]]!r} rated case {self.cases[self.case_of[row]]!r} "
                f"in treatment {self.treatments[self.treatment_of[row]]!r} twice ({where(row)} and "
                f"{where(again)}); keep one reading per reader, treatment and case"
            )


def read_readings(path: str | Path) -> Readings:
    """Read a CSV table of readings (header row with at least ``COLUMNS``; other columns ignored).

    Messages name file lines: the header is line 1.

    Raises:
        MRMCInputError: the file is missing or empty, lacks a column, or anything
            ``Readings.from_columns`` refuses.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            rows, lines = [], []
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append(row)
                    lines.append(reader.line_num)
    except FileNotFoundError:
        raise MRMCInputError(f"{path}: not found; pass a CSV file of readings") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MRMCInputError(f"{path}: cannot be read as a CSV file ({exc})") from None
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise MRMCInputError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}; the header must name "
            f"{', '.join(COLUMNS)} (found: {', '.join(header) or 'nothing'})"
        )
    position = {name: header.index(name) for name in COLUMNS}
    columns = {name: [row[i] if i < len(row) else "" for row in rows] for name, i in position.items()}
    return Readings.from_columns(**columns, source=str(path), lines=lines)
