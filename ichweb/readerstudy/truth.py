"""Case-level ground truth of reader-study cases, from the labeling room's slice-level ground truth.

A case is ICH when any of its ground-truth slices carries any subtype; a subtype is present when it is on
any slice (docs/science.md, "Task and labels").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ichweb.labeling.models import SUBTYPE_FIELDS, GroundTruthSlice, Subtype
from ichweb.readerstudy.models import StudyCase


@dataclass(frozen=True)
class Truth:
    subtypes: frozenset[str]

    @property
    def ich(self) -> bool:
        return bool(self.subtypes)


def case_truths(cases: Iterable[StudyCase]) -> dict[int, Truth]:
    """``{study case id: Truth}`` in one query, whatever the number of cases."""
    by_source = {case.source_id: case.pk for case in cases}
    found: dict[int, set[str]] = {pk: set() for pk in by_source.values()}
    rows = GroundTruthSlice.objects.filter(ground_truth__case_id__in=by_source).values_list(
        "ground_truth__case_id", *SUBTYPE_FIELDS
    )
    for source_id, *flags in rows:
        found[by_source[source_id]].update(
            code for code, flag in zip(Subtype.values, flags, strict=True) if flag
        )
    return {pk: Truth(frozenset(codes)) for pk, codes in found.items()}
