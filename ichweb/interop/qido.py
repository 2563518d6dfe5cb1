"""QIDO-RS (PS3.18 10.6): search the stored studies, series and instances; answers in DICOM JSON.

Matching follows PS3.4 C.2.2.2: an empty value matches everything (and asks for the attribute), UIDs match a
list (``1.2.3,1.2.4`` or ``1.2.3\\1.2.4``), dates and times match a single value or a range
(``20200101-20201231``, ``-20201231``, ``20200101-``), and text matches exactly or with the wildcards ``*``
and ``?``. Person names match without regard to case; with ``fuzzymatching=true`` a name also matches where
the value starts any of its components. Attributes this server knows but cannot match on are ignored with a
``Warning: 299`` header, as PS3.18 allows; a parameter that names no attribute is a 400.

Everything but a few study attributes comes from the database; those (patient name, study time, referring
physician, study ID and the rest of the patient and study modules) are read once from each study's first
stored instance into ``StudyHeader``. Attributes asked for with ``includefield`` that the database does not
hold are read from the stored files of the page being answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from pydicom.uid import CTImageStorage

from ichweb.errors import RuleError, integer
from ichweb.imaging.models import Series, Slice, Study
from ichweb.interop import dicomjson, headers
from ichweb.interop.dicomjson import Json, check_uid, element, tag_key

#: The most results one answer carries; more are paged with ``offset``.
MAX_RESULTS = 1000
CONTROL = frozenset({"limit", "offset", "fuzzymatching", "includefield"})
RETRIEVE_URL = 0x00081190


@dataclass(frozen=True)
class Attr:
    """An attribute a level answers: where it is matched (``field``, an ORM path) and how it is read."""

    tag: int
    vr: str
    field: str | None
    get: Callable[[Any], list[Any]]
    #: The one value every row has (Modality CT): matched here, not in SQL.
    const: str | None = None


def _date(value: date | None) -> list[Any]:
    return [value.strftime("%Y%m%d")] if value else []


def _from_header(tag: int) -> Callable[[Study], list[Any]]:
    def get(study: Study) -> list[Any]:
        value = dicomjson.first_value(headers.of(study).attributes, tag)
        return [value] if value not in ("", None) else []

    return get


STUDY: list[Attr] = [
    Attr(0x0020000D, "UI", "study_uid", lambda s: [s.study_uid]),
    Attr(0x00100010, "PN", "dicom_header__patient_name", lambda s: [headers.of(s).patient_name]),
    Attr(0x00100020, "LO", "patient_pseudo_id", lambda s: [s.patient_pseudo_id]),
    Attr(0x00100030, "DA", None, _from_header(0x00100030)),
    Attr(0x00100040, "CS", None, _from_header(0x00100040)),
    Attr(0x00080020, "DA", "study_date", lambda s: _date(s.study_date)),
    Attr(0x00080030, "TM", "dicom_header__study_time", lambda s: [headers.of(s).study_time]),
    Attr(0x00080050, "SH", "accession_pseudo", lambda s: [s.accession_pseudo]),
    Attr(
        0x00080090, "PN", "dicom_header__referring_physician", lambda s: [headers.of(s).referring_physician]
    ),
    Attr(0x00081030, "LO", "description", lambda s: [s.description]),
    Attr(0x00200010, "SH", "dicom_header__study_number", lambda s: [headers.of(s).study_number]),
    Attr(0x00080061, "CS", None, lambda s: ["CT"], const="CT"),
    Attr(0x00080056, "CS", None, lambda s: ["ONLINE"]),
    Attr(0x00201206, "IS", None, lambda s: [getattr(s, "n_series", None)]),
    Attr(0x00201208, "IS", None, lambda s: [getattr(s, "n_instances", None)]),
]
SERIES: list[Attr] = [
    Attr(0x0020000E, "UI", "series_uid", lambda s: [s.series_uid]),
    Attr(0x00080060, "CS", None, lambda s: ["CT"], const="CT"),
    Attr(0x00200011, "IS", "number", lambda s: [s.number]),
    Attr(0x0008103E, "LO", "description", lambda s: [s.description]),
    Attr(0x00201209, "IS", None, lambda s: [s.n_slices]),
    Attr(0x00080056, "CS", None, lambda s: ["ONLINE"]),
]
INSTANCE: list[Attr] = [
    Attr(0x00080018, "UI", "sop_instance_uid", lambda i: [i.sop_instance_uid]),
    Attr(0x00080016, "UI", None, lambda i: [str(CTImageStorage)], const=str(CTImageStorage)),
    Attr(0x00200013, "IS", "instance_number", lambda i: [i.instance_number]),
    Attr(0x00280010, "US", None, lambda i: [i.series.rows]),
    Attr(0x00280011, "US", None, lambda i: [i.series.columns]),
    Attr(0x00280100, "US", None, lambda i: [16]),
    Attr(0x00080056, "CS", None, lambda i: ["ONLINE"]),
]


@dataclass(frozen=True)
class Source:
    """The attributes of one level as seen from the rows of a search: ORM prefix and row getter."""

    attrs: list[Attr]
    prefix: str
    row: Callable[[Any], Any]


LEVELS: dict[str, list[Source]] = {
    "study": [Source(STUDY, "", lambda s: s)],
    "series": [Source(SERIES, "", lambda s: s), Source(STUDY, "study__", lambda s: s.study)],
    "instance": [
        Source(INSTANCE, "", lambda i: i),
        Source(SERIES, "series__", lambda i: i.series),
        Source(STUDY, "series__study__", lambda i: i.series.study),
    ],
}


@dataclass
class Query:
    """A parsed search: what to match, what to answer, which page."""

    filters: list[tuple[int, str]] = field(default_factory=list)
    include: set[int] = field(default_factory=set)
    include_all: bool = False
    limit: int = MAX_RESULTS
    offset: int = 0
    fuzzy: bool = False
    warnings: list[str] = field(default_factory=list)


def parse_query(params: Mapping[str, list[str]]) -> Query:
    """The search ``params`` (each name with its values) as a ``Query``.

    Raises:
        RuleError: on the parameter at fault: a name that is no attribute keyword or tag, or a bad
            ``limit``/``offset``/``fuzzymatching``/``includefield``.
    """
    query = Query()
    for name, values in params.items():
        if not name:
            continue  # "?&limit=..." (some viewers send it)
        if name in CONTROL:
            _control(query, name, values)
            continue
        tag = dicomjson.parse_tag(name)
        if tag is None:
            raise RuleError(
                f"{name} is neither a DICOM attribute keyword (e.g. PatientID) nor a tag (e.g. 00100020)",
                field=name,
            )
        query.filters += [(tag, value) for value in values[-1:]]
    return query


def _control(query: Query, name: str, values: list[str]) -> None:
    last = values[-1] if values else ""
    if name == "limit":
        query.limit = min(integer(last, "limit", minimum=1, maximum=10**9), MAX_RESULTS)
        if int(last) > MAX_RESULTS:
            query.warnings.append(f"limit lowered to {MAX_RESULTS}, the most this server answers at once")
    elif name == "offset":
        query.offset = integer(last, "offset")
    elif name == "fuzzymatching":
        if last.lower() not in ("true", "false"):
            raise RuleError("fuzzymatching must be true or false", field="fuzzymatching")
        query.fuzzy = last.lower() == "true"
    else:
        for item in (part.strip() for value in values for part in value.split(",")):
            if item == "all":
                query.include_all = True
            elif item:
                tag = dicomjson.parse_tag(item)
                if tag is None:
                    raise RuleError(f"includefield: {item!r} is no attribute keyword or tag", "includefield")
                query.include.add(tag)


# --- matching ---------------------------------------------------------------------------------------------

DA_RANGE = re.compile(r"(\d{8})?(-)?(\d{8})?")
TM_VALUE = r"\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?"
TM_RANGE = re.compile(rf"({TM_VALUE})?(-)?({TM_VALUE})?")


def parse_date_range(raw: str, name: str) -> tuple[date | None, date | None]:
    """A DA value or range as (first day, last day), either open; a ``RuleError`` on ``name`` otherwise."""
    match = DA_RANGE.fullmatch(raw)
    start, dash, end = match.groups() if match else (None, None, None)
    if not match or not (start or end) or (start and end and not dash):
        raise RuleError(
            f"{name}: {raw!r} is not a DICOM date or date range: use YYYYMMDD, YYYYMMDD-YYYYMMDD, "
            "-YYYYMMDD or YYYYMMDD-",
            field=name,
        )
    days = []
    for value in (start, end):
        try:
            days.append(date(int(value[:4]), int(value[4:6]), int(value[6:])) if value else None)
        except ValueError:
            raise RuleError(f"{name}: {value} is not a calendar date (YYYYMMDD)", field=name) from None
    first, last = days
    if not dash:
        last = first
    if first and last and first > last:
        raise RuleError(f"{name}: the range {raw} ends before it starts", field=name)
    return first, last


def parse_time_range(raw: str, name: str) -> tuple[str, str]:
    """A TM value or range as (from, to) in HHMMSS, an open end as 000000 or 999999."""
    match = TM_RANGE.fullmatch(raw)
    if not match or not (match.group(1) or match.group(3)):
        raise RuleError(f"{name}: {raw!r} is not a DICOM time or time range (HHMMSS-HHMMSS)", field=name)
    start, dash, end = match.groups()
    low = (start or "").split(".")[0].ljust(6, "0") if start else "000000"
    high_src = end if dash else start
    high = high_src.split(".")[0].ljust(6, "9") if high_src else "999999"
    return low, high


def _wildcard(raw: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in raw)


def _text_q(path: str, raw: str, vr: str, fuzzy: bool) -> Q:
    person = vr == "PN"
    if person and fuzzy:
        return Q(**{f"{path}__iregex": rf"(^|[\^ =]){_wildcard(raw)}"})
    if "*" in raw or "?" in raw:
        return Q(**{f"{path}__{'iregex' if person else 'regex'}": f"^{_wildcard(raw)}$"})
    return Q(**{f"{path}__{'iexact' if person else 'exact'}": raw})


def _const_matches(raw: str, const: str) -> bool:
    values = [v for v in re.split(r"[\\,]", raw) if v]
    return any(re.fullmatch(_wildcard(v), const, flags=re.IGNORECASE) for v in values)


def match_q(attr: Attr, prefix: str, raw: str, fuzzy: bool) -> Q | None:
    """The condition ``raw`` puts on ``attr``; None for universal matching.

    Raises:
        LookupError: ``attr`` cannot be matched here (the caller warns and ignores it).
        RuleError: ``raw`` is malformed for the attribute's VR.
    """
    name = dicomjson.keyword(attr.tag)
    if raw == "" or raw == "*":
        return None
    if attr.const is not None:
        return Q() if _const_matches(raw, attr.const) else Q(pk__in=[])
    if attr.field is None:
        raise LookupError(name)
    path = prefix + attr.field
    if attr.vr == "UI":
        uids = [check_uid(v.strip(), name) for v in re.split(r"[\\,]", raw) if v.strip()]
        return Q(**{f"{path}__in": uids})
    if attr.vr == "DA":
        first, last = parse_date_range(raw, name)
        return Q(**({f"{path}__gte": first} if first else {})) & Q(**({f"{path}__lte": last} if last else {}))
    if attr.vr == "TM":
        low, high = parse_time_range(raw, name)
        return Q(**{f"{path}__gte": low, f"{path}__lte": high})
    if attr.vr == "IS":
        return Q(**{path: integer(raw, name, minimum=-(2**31), maximum=2**31 - 1)})
    return _text_q(path, raw, attr.vr, fuzzy)


def _find(level: str, tag: int) -> tuple[Source, Attr] | None:
    for source in LEVELS[level]:
        for attr in source.attrs:
            if attr.tag == tag:
                return source, attr
    return None


def conditions(level: str, query: Query) -> Q:
    """All match conditions of ``query`` at ``level``; unmatchable attributes become warnings."""
    where = Q()
    for tag, raw in query.filters:
        found = _find(level, tag)
        try:
            if found is None:
                raise LookupError(dicomjson.keyword(tag))
            condition = match_q(found[1], found[0].prefix, raw, query.fuzzy)
        except LookupError:
            if raw not in ("", "*"):
                query.warnings.append(f"{dicomjson.keyword(tag)} is not matched by this server; ignored")
            continue
        if condition is not None:
            where &= condition
    return where


# --- answering --------------------------------------------------------------------------------------------


def base_rows(level: str, study_uid: str | None, series_uid: str | None) -> QuerySet[Any]:
    """The rows a search at ``level`` runs over, narrowed to the study and series of its path."""
    if level == "study":
        return Study.objects.select_related("dicom_header").annotate(
            n_series=Count("series", distinct=True), n_instances=Sum("series__n_slices")
        )
    if level == "series":
        rows: QuerySet[Any] = Series.objects.select_related("study", "study__dicom_header")
        return rows.filter(study__study_uid=study_uid) if study_uid else rows
    rows = Slice.objects.select_related("series", "series__study", "series__study__dicom_header")
    if study_uid:
        rows = rows.filter(series__study__study_uid=study_uid)
    if series_uid:
        rows = rows.filter(series__series_uid=series_uid)
    return rows.order_by("series__study_id", "series_id", "index")


def answered_tags(level: str, query: Query, scoped: bool) -> set[int]:
    """The attributes each result carries: the level's own, those of the levels above it when the search
    is not narrowed to one of them, the UIDs of the levels above, and every registered one ``includefield``
    names (or all, with ``includefield=all``)."""
    sources = LEVELS[level]
    own = {attr.tag for attr in sources[0].attrs}
    if query.include_all or not scoped:
        own |= {attr.tag for source in sources[1:] for attr in source.attrs}
    own |= {0x0020000D, 0x0020000E} if level == "instance" else {0x0020000D}
    registered = {attr.tag for source in sources for attr in source.attrs}
    own |= query.include & registered
    if query.include_all:
        own |= registered
    return own | {tag for tag, _ in query.filters if tag in registered}


def retrieve_url(base: str, row: Any, level: str) -> str:
    if level == "study":
        return f"{base}/studies/{row.study_uid}"
    if level == "series":
        return f"{base}/studies/{row.study.study_uid}/series/{row.series_uid}"
    series = row.series
    return (
        f"{base}/studies/{series.study.study_uid}/series/{series.series_uid}/instances/{row.sop_instance_uid}"
    )


def result(level: str, row: Any, tags: set[int], query: Query, base: str) -> Json:
    """One result: the registered attributes ``tags``, the RetrieveURL, and ``includefield`` extras."""
    out: Json = {}
    for source in LEVELS[level]:
        for attr in source.attrs:
            if attr.tag in tags:
                key, value = element(attr.tag, attr.get(source.row(row)), attr.vr)
                out.setdefault(key, value)
    key, value = element(RETRIEVE_URL, [retrieve_url(base, row, level)], "UR")
    out[key] = value
    extra = query.include - {tag for source in LEVELS[level] for tag in (a.tag for a in source.attrs)}
    if extra or query.include_all:
        file_attributes = headers.file_attributes(level, row)
        wanted = None if query.include_all else extra
        for k, v in dicomjson.pick(file_attributes, wanted).items():
            out.setdefault(k, v)
    return dict(sorted(out.items()))


@dataclass
class Found:
    """A page of results and the warnings that go with them (``Warning: 299`` headers)."""

    results: list[Json]
    warnings: list[str]


def search(
    level: str,
    params: Mapping[str, list[str]],
    *,
    base: str,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> Found:
    """Search ``level`` ("study", "series" or "instance") within the study/series of the path.

    Raises:
        RuleError: a malformed parameter, named.
    """
    for value, name in ((study_uid, "study"), (series_uid, "series")):
        if value is not None:
            check_uid(value, name)
    query = parse_query(params)
    headers.ensure()
    rows = base_rows(level, study_uid, series_uid).filter(conditions(level, query))
    page = list(rows[query.offset : query.offset + query.limit + 1])
    if len(page) > query.limit:
        page = page[: query.limit]
        query.warnings.append(
            f"more than {query.limit} results: ask again with offset={query.offset + query.limit}"
        )
    scoped = (study_uid is not None) if level == "series" else (series_uid is not None)
    tags = answered_tags(level, query, scoped)
    return Found([result(level, row, tags, query, base) for row in page], query.warnings)


def uid_keys(results: Iterable[Json]) -> list[str]:
    """The StudyInstanceUIDs of ``results`` (for tests and logs)."""
    return [r[tag_key(0x0020000D)]["Value"][0] for r in results]
