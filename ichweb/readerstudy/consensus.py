"""The consensus step of the localisation task: two participants' bleeding points merged into the
reference points of each slice, by a lead or one of the two, once both have finished localisation
(``access.can_merge``, ``access.require_consensus_open``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from ichweb.readerstudy import access
from ichweb.readerstudy.models import LocalisationItem, ReferencePoints
from ichweb.readerstudy.services import clean_points


def merge_points(
    first: Sequence[Sequence[float]], second: Sequence[Sequence[float]], radius: float
) -> list[list[float]]:
    """Both participants' points, each pair closer than ``radius`` merged into its midpoint.

    Pairs are matched closest first, each point at most once; unmatched points of either are kept.
    """
    pairs = sorted(
        (math.dist(a, b), i, j)
        for i, a in enumerate(first)
        for j, b in enumerate(second)
        if math.dist(a, b) <= radius
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    merged: list[list[float]] = []
    for _, i, j in pairs:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        a, b = first[i], second[j]
        merged.append([round((a[0] + b[0]) / 2, 1), round((a[1] + b[1]) / 2, 1)])
    merged += [list(p) for i, p in enumerate(first) if i not in used_a]
    merged += [list(p) for j, p in enumerate(second) if j not in used_b]
    return merged


def consensus_of(item: LocalisationItem, pair: tuple[Any, Any]) -> dict[str, Any]:
    """Both participants' points, the merged proposal and the recorded reference (``None`` until saved)."""
    marks = {m.participant_id: m.points for m in item.marks.filter(participant__in=pair)}
    first, second = marks.get(pair[0].pk, []), marks.get(pair[1].pk, [])
    reference = ReferencePoints.objects.filter(item=item).first()
    return {
        "first": {"participant": pair[0].get_username(), "points": first},
        "second": {"participant": pair[1].get_username(), "points": second},
        "proposal": merge_points(first, second, item.study.merge_radius_px),
        "reference": None if reference is None else reference.points,
    }


@transaction.atomic
def record_reference(item: LocalisationItem, user, points: Any) -> ReferencePoints:
    """Save the (edited) consensus points of an item as its reference points."""
    access.require_consensus_open(item.study)
    series = item.case.series
    cleaned = clean_points(points, series.columns, series.rows)
    reference, _ = ReferencePoints.objects.update_or_create(
        item=item, defaults={"points": cleaned, "merged_by": user}
    )
    return reference
