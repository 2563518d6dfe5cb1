"""The business rules of labeling: projects and assignment, writes with version checks and audit, case routing
to consensus or blinded adjudication, ground truth, RSNA-format export and import.

Every write takes the read row with ``select_for_update`` and checks the client's ``version``: a stale write
(two tabs on one read) raises ``StaleVersion`` and changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from ichweb.errors import Conflict, RuleError, StaleVersion
from ichweb.imaging.models import Series, Study
from ichweb.labeling.models import (
    SUBTYPE_FIELDS,
    AuditEvent,
    BleedingPoint,
    Case,
    ExclusionReason,
    GroundTruth,
    GroundTruthSlice,
    Project,
    Read,
    SliceLabel,
    Subtype,
    SubtypeFlags,
)
from ichweb.lib.reading_time import bounded_seconds
from ml.labels import LABELS

Labels = dict[int, frozenset[str]]  # slice index -> subtype codes (empty = explicit no haemorrhage)


class LabelingError(RuleError):
    """A request that breaks a labeling rule; the message says which field and what to do."""


class ReadOnly(Conflict, LabelingError):
    """A write to a read that can no longer change (submitted)."""


# --- projects ---------------------------------------------------------------------------------------------


def standard_series(study: Study) -> Series:
    series = study.series.filter(kind=Series.Kind.STANDARD).order_by("number", "id").first()
    series = series or study.series.order_by("id").first()
    if series is None:
        raise LabelingError(f"study {study.pk} has no series to read", field="studies")
    return series


def label_matrix(rows: Iterable[SliceLabel | GroundTruthSlice], n_slices: int) -> np.ndarray:
    """``(n_slices, 6)`` 0/1 in ``ml.labels.LABELS`` order from per-slice flag rows (``row.slice.index``);
    "any ICH" is set where a subtype is; slices without a row count as negative."""
    out = np.zeros((n_slices, len(LABELS)), dtype=np.int8)
    for row in rows:
        for code in row.codes:
            out[row.slice.index, LABELS.index(code)] = 1
    out[:, LABELS.index("ANY")] = out[:, : LABELS.index("ANY")].max(axis=1)
    return out


@transaction.atomic
def create_project(
    *,
    lead,
    name: str,
    studies: Iterable[Study],
    readers: list,
    mode: str = Project.Mode.CONSENSUS,
    readers_per_case: int = 2,
    adjudicators: Iterable = (),
    discordance: str = Project.Discordance.CASE_SUBTYPE,
    show_reader_identities: bool = False,
    description: str = "",
) -> Project:
    """Create a project, one case per study and K independent reads per case, balanced over the readers."""
    k = 2 if mode == Project.Mode.ADJUDICATION else readers_per_case
    if k < 1:
        raise LabelingError("readers per case must be at least 1", field="readers_per_case")
    if len(readers) < k:
        raise LabelingError(
            f"{k} independent reads per case need at least {k} readers; got {len(readers)}", field="readers"
        )
    adjudicators = list(adjudicators)
    if mode == Project.Mode.ADJUDICATION and not adjudicators:
        raise LabelingError("adjudication mode needs at least one adjudicator", field="adjudicators")
    project = Project.objects.create(
        name=name,
        description=description,
        mode=mode,
        readers_per_case=k,
        discordance=discordance,
        show_reader_identities=show_reader_identities,
        created_by=lead,
    )
    project.readers.set(readers)
    project.adjudicators.set(adjudicators)
    load = dict.fromkeys((r.pk for r in readers), 0)
    by_pk = {r.pk: r for r in readers}
    for position, study in enumerate(studies):
        case = Case.objects.create(
            project=project, study=study, series=standard_series(study), position=position
        )
        # The K least-loaded readers (ties by order given) read this case.
        chosen = sorted(load, key=lambda pk: (load[pk], list(load).index(pk)))[:k]
        for pk in chosen:
            load[pk] += 1
            Read.objects.create(case=case, reader=by_pk[pk])
    return project


# --- reads: access and writes ----------------------------------------------------------------------------


def reads_of(user):
    """The reads a user may open: their own, and nothing else (blinding)."""
    return Read.objects.filter(reader=user).select_related("case__project", "case__series", "case__study")


def labels_of(read: Read) -> Labels:
    rows = read.slice_labels.select_related("slice").only("slice__index", *SUBTYPE_FIELDS)
    return {row.slice.index: frozenset(row.codes) for row in rows}


def _locked(read_id: int, user, version: int | None) -> Read:
    read = Read.objects.select_for_update().select_related("case__series").get(pk=read_id, reader=user)
    if read.status == Read.Status.SUBMITTED:
        raise ReadOnly("this read is submitted and can no longer change")
    if version is not None and version != read.version:
        raise StaleVersion(
            read.version, "This read was changed in another tab or window: reload to see the latest version."
        )
    return read


def _touch(read: Read, **fields: Any) -> int:
    now = timezone.now()
    read.version += 1
    read.status = Read.Status.IN_PROGRESS
    read.started_at = read.started_at or now
    for key, value in fields.items():
        setattr(read, key, value)
    read.save()
    return read.version


def _codes(value: Any, field: str) -> frozenset[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise LabelingError("labels must be a list of subtype codes", field=field)
    unknown = sorted(set(value) - set(Subtype.values))
    if unknown:
        raise LabelingError(
            f"unknown subtype code(s) {', '.join(unknown)}; use {', '.join(Subtype.values)}", field=field
        )
    return frozenset(value)


def parse_labels(raw: Mapping[str, Any], n_slices: int) -> Labels:
    out: Labels = {}
    for key, value in raw.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise LabelingError(f"slice index {key!r} is not a number", field="slices") from None
        if not 0 <= index < n_slices:
            raise LabelingError(f"slice {index} is outside this case (0-{n_slices - 1})", field="slices")
        out[index] = _codes(value, f"slices.{index}")
    return out


@transaction.atomic
def set_labels(
    read_id: int, user, version: int, raw: Mapping[str, Any], last_slice_index: int | None = None
) -> int:
    """Set the labels of one or more slices (a range write is one request); returns the new version."""
    read = _locked(read_id, user, version)
    series = read.case.series
    labels = parse_labels(raw, series.n_slices)
    slices = {s.index: s for s in series.slices.filter(index__in=labels)}
    existing = {row.slice_id: row for row in read.slice_labels.filter(slice__index__in=labels)}
    events = []
    for index, codes in sorted(labels.items()):
        sl = slices[index]
        row = existing.get(sl.pk)
        before = sorted(row.codes) if row else None
        flags = SubtypeFlags.flags(codes)
        if row is None:
            SliceLabel.objects.create(read=read, slice=sl, **flags)
        elif before != sorted(codes):
            SliceLabel.objects.filter(pk=row.pk).update(updated_at=timezone.now(), **flags)
        if before != sorted(codes):
            events.append(
                AuditEvent(
                    read=read,
                    user=user,
                    action="labels",
                    slice_index=index,
                    before=before,
                    after=sorted(codes),
                )
            )
    AuditEvent.objects.bulk_create(events)
    extra = {}
    if last_slice_index is not None:
        extra["last_slice_index"] = min(max(0, int(last_slice_index)), series.n_slices - 1)
    return _touch(read, **extra)


def _point_fields(read: Read, data: Mapping[str, Any], partial: bool) -> dict[str, Any]:
    series = read.case.series
    out: dict[str, Any] = {}
    for axis, limit in (("x", series.columns), ("y", series.rows)):
        if axis in data or not partial:
            try:
                value = float(data[axis])
            except (KeyError, TypeError, ValueError):
                raise LabelingError(f"{axis} must be a number of image pixels", field=axis) from None
            if not 0 <= value < limit:
                raise LabelingError(f"{axis}={value:g} is outside the image (0 to {limit})", field=axis)
            out[axis] = value
    if "subtype" in data:
        subtype = data["subtype"] or ""
        if subtype and subtype not in Subtype.values:
            raise LabelingError(
                f"unknown subtype {subtype!r}; use {', '.join(Subtype.values)} or null", field="subtype"
            )
        out["subtype"] = subtype
    return out


def point_json(point: BleedingPoint, index: int) -> dict[str, Any]:
    return {
        "id": str(point.id),
        "slice_index": index,
        "x": point.x,
        "y": point.y,
        "subtype": point.subtype or None,
    }


@transaction.atomic
def add_point(read_id: int, user, version: int, data: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    read = _locked(read_id, user, version)
    try:
        index = int(data["slice_index"])
    except (KeyError, TypeError, ValueError):
        raise LabelingError("slice_index must be the slice's index", field="slice_index") from None
    sl = read.case.series.slices.filter(index=index).first()
    if sl is None:
        raise LabelingError(f"slice {index} is outside this case", field="slice_index")
    fields = _point_fields(read, data, partial=False)
    point = BleedingPoint.objects.create(read=read, slice=sl, **fields)
    after = point_json(point, index)
    AuditEvent.objects.create(read=read, user=user, action="point_add", slice_index=index, after=after)
    return after, _touch(read)


@transaction.atomic
def move_point(read_id: int, user, version: int, point_id: str, data: Mapping[str, Any]) -> tuple[dict, int]:
    read = _locked(read_id, user, version)
    point = read.points.select_related("slice").filter(pk=point_id).first()
    if point is None:
        raise LabelingError("no such point in this read", field="id")
    before = point_json(point, point.slice.index)
    for key, value in _point_fields(read, data, partial=True).items():
        setattr(point, key, value)
    point.save()
    after = point_json(point, point.slice.index)
    AuditEvent.objects.create(
        read=read, user=user, action="point_move", slice_index=point.slice.index, before=before, after=after
    )
    return after, _touch(read)


@transaction.atomic
def delete_point(read_id: int, user, version: int, point_id: str) -> int:
    read = _locked(read_id, user, version)
    point = read.points.select_related("slice").filter(pk=point_id).first()
    if point is None:
        raise LabelingError("no such point in this read", field="id")
    AuditEvent.objects.create(
        read=read,
        user=user,
        action="point_delete",
        slice_index=point.slice.index,
        before=point_json(point, point.slice.index),
    )
    point.delete()
    return _touch(read)


@transaction.atomic
def set_exclusion(read_id: int, user, version: int, reason: str | None, note: str = "") -> int:
    read = _locked(read_id, user, version)
    if reason is not None and reason not in ExclusionReason.values:
        raise LabelingError(
            f"unknown exclusion reason {reason!r}; use {', '.join(ExclusionReason.values)}", field="reason"
        )
    before = {"excluded": read.excluded, "reason": read.exclusion_reason}
    after = {"excluded": reason is not None, "reason": reason or ""}
    AuditEvent.objects.create(read=read, user=user, action="exclusion", before=before, after=after)
    return _touch(read, excluded=reason is not None, exclusion_reason=reason or "", exclusion_note=note[:500])


def add_reading_time(read_id: int, user, seconds: float) -> None:
    """Count a heartbeat of reading time on ``user``'s read while it is not submitted, bounded as
    ``ichweb.lib.reading_time.bounded_seconds`` says (60 s, and the wall time since the last beat)."""
    now = timezone.now()
    with transaction.atomic():
        read = (
            Read.objects.select_for_update()
            .filter(pk=read_id, reader=user)
            .exclude(status=Read.Status.SUBMITTED)
            .only("pk", "last_beat_at")
            .first()
        )
        if read is None:
            return
        Read.objects.filter(pk=read.pk).update(
            reading_seconds=F("reading_seconds") + bounded_seconds(seconds, read.last_beat_at, now),
            last_beat_at=now,
        )


@transaction.atomic
def submit(read_id: int, user, version: int) -> int:
    """Submit a read (unlabeled slices count as no haemorrhage), then route its case."""
    read = _locked(read_id, user, version)
    AuditEvent.objects.create(read=read, user=user, action="submit")
    version = _touch(read, status=Read.Status.SUBMITTED, submitted_at=timezone.now())
    route_case(read.case)
    return version


def reader_progress(project: Project) -> dict[str, dict[str, int]]:
    """Each reader's reads of ``project`` (primary and adjudication): ``{username: {"assigned",
    "submitted", "in_progress"}}``, readers in the order of their first read."""
    per: dict[str, dict[str, int]] = {}
    for read in Read.objects.filter(case__project=project).select_related("reader"):
        row = per.setdefault(read.reader.get_username(), {"assigned": 0, "submitted": 0, "in_progress": 0})
        row["assigned"] += 1
        row["submitted"] += read.status == Read.Status.SUBMITTED
        row["in_progress"] += read.status == Read.Status.IN_PROGRESS
    return per


# --- routing and ground truth ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadSummary:
    read: Read
    labels: Labels

    @property
    def case_codes(self) -> frozenset[str]:
        return frozenset().union(*self.labels.values()) if self.labels else frozenset()


def summarize(read: Read) -> ReadSummary:
    return ReadSummary(read, labels_of(read))


def discordant_slices(summaries: list[ReadSummary], n_slices: int) -> list[int]:
    """Slices whose labels differ between reads (an unlabeled slice counts as no haemorrhage)."""
    return [i for i in range(n_slices) if len({s.labels.get(i, frozenset()) for s in summaries}) > 1]


def is_discordant(project: Project, summaries: list[ReadSummary], n_slices: int) -> bool:
    if len({s.read.excluded for s in summaries}) > 1:
        return True
    if all(s.read.excluded for s in summaries):
        return len({s.read.exclusion_reason for s in summaries}) > 1
    if project.discordance == Project.Discordance.CASE_ANY:
        return len({bool(s.case_codes) for s in summaries}) > 1
    if project.discordance == Project.Discordance.CASE_SUBTYPE:
        return len({s.case_codes for s in summaries}) > 1
    return bool(discordant_slices(summaries, n_slices))


def route_case(case: Case) -> None:
    """After a submit: record ground truth, or send the case to consensus or to a blinded adjudicator."""
    case = Case.objects.select_for_update().select_related("project", "series").get(pk=case.pk)
    project = case.project
    adjudication = case.reads.filter(kind=Read.Kind.ADJUDICATION).first()
    if adjudication is not None:
        if adjudication.status == Read.Status.SUBMITTED:
            _record_truth(case, GroundTruth.Method.ADJUDICATION, [summarize(adjudication)])
        return
    primaries = list(case.reads.filter(kind=Read.Kind.PRIMARY).select_related("reader"))
    if any(r.status != Read.Status.SUBMITTED for r in primaries):
        return
    summaries = [summarize(r) for r in primaries]
    if not is_discordant(project, summaries, case.series.n_slices):
        _record_truth(
            case,
            GroundTruth.Method.SINGLE if len(summaries) == 1 else GroundTruth.Method.CONSENSUS,
            summaries,
        )
    elif project.mode == Project.Mode.ADJUDICATION:
        _assign_adjudicator(case, {r.reader_id for r in primaries})
    else:
        case.status = Case.Status.CONSENSUS
        case.save(update_fields=["status"])


def _assign_adjudicator(case: Case, exclude: set[int]) -> None:
    candidates = (
        case.project.adjudicators.exclude(pk__in=exclude)
        .annotate(
            open=Count("reads", filter=Q(reads__kind=Read.Kind.ADJUDICATION) & ~Q(reads__status="submitted"))
        )
        .order_by("open", "pk")
    )
    adjudicator = candidates.first()
    if adjudicator is None:
        raise LabelingError(
            "no adjudicator who did not read this case: add one to the project", field="adjudicators"
        )
    Read.objects.create(case=case, reader=adjudicator, kind=Read.Kind.ADJUDICATION)
    case.status = Case.Status.ADJUDICATION
    case.save(update_fields=["status"])


def _record_truth(
    case: Case,
    method: str,
    summaries: list[ReadSummary],
    decided_by=None,
    labels: Labels | None = None,
    exclusion: str = "",
) -> GroundTruth:
    """Ground truth from agreeing reads (a subtype is kept where any of them marked it), or given labels."""
    GroundTruth.objects.filter(case=case).delete()
    excluded = bool(exclusion) or (
        bool(summaries) and all(s.read.excluded for s in summaries) and labels is None
    )
    reason = exclusion or (summaries[0].read.exclusion_reason if excluded and summaries else "")
    truth = GroundTruth.objects.create(case=case, method=method, excluded=excluded, exclusion_reason=reason)
    truth.contributors.set([s.read.reader for s in summaries] + ([decided_by] if decided_by else []))
    if labels is None:
        labels = {}
        for s in summaries:
            for index, codes in s.labels.items():
                labels[index] = labels.get(index, frozenset()) | codes
    slices = {s.index: s for s in case.series.slices.all()}
    GroundTruthSlice.objects.bulk_create(
        GroundTruthSlice(
            ground_truth=truth,
            slice=slices[i],
            **SubtypeFlags.flags(labels.get(i, ())),
        )
        for i in sorted(slices)
    )
    case.status = Case.Status.DONE
    case.save(update_fields=["status"])
    return truth


@transaction.atomic
def record_consensus(case: Case, lead, raw: Mapping[str, Any], exclusion: str = "") -> GroundTruth:
    """The lead records the consensus of a discordant case; slices not sent keep the union of the reads."""
    case = Case.objects.select_for_update().select_related("series", "project").get(pk=case.pk)
    summaries = [
        summarize(r) for r in case.reads.filter(kind=Read.Kind.PRIMARY, status=Read.Status.SUBMITTED)
    ]
    if exclusion and exclusion not in ExclusionReason.values:
        raise LabelingError(f"unknown exclusion reason {exclusion!r}", field="exclusion")
    labels: Labels = {}
    for s in summaries:
        for index, codes in s.labels.items():
            labels[index] = labels.get(index, frozenset()) | codes
    labels.update(parse_labels(raw, case.series.n_slices))
    return _record_truth(
        case, GroundTruth.Method.CONSENSUS, summaries, decided_by=lead, labels=labels, exclusion=exclusion
    )


def adjudication_view(read: Read) -> list[dict[str, Any]]:
    """The two primary reads for the adjudicator, as "Reader A/B" in an order that hides who is who."""
    primaries = list(read.case.reads.filter(kind=Read.Kind.PRIMARY, status=Read.Status.SUBMITTED))
    random.Random(f"adjudication-{read.pk}").shuffle(primaries)  # noqa: S311 -- stable order, no secret
    out = []
    for letter, primary in zip("ABCDEFGH", primaries, strict=False):
        out.append(
            {
                "label": f"Reader {letter}",
                "labels": {str(i): sorted(c) for i, c in labels_of(primary).items()},
                "points": [point_json(p, p.slice.index) for p in primary.points.select_related("slice")],
                "excluded": primary.excluded,
                "exclusion_reason": primary.exclusion_reason,
            }
        )
    return out
