"""The DICOM JSON model of PS3.18 Annex F, and the names and values DICOMweb requests carry (no Django).

An attribute is ``{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}``: the tag as 8 upper-case hex digits, its
VR and a list of values (absent when empty); a person name's value is ``{"Alphabetic": "DOE^JANE"}``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from ichweb.errors import RuleError

Json = dict[str, Any]

#: A UID: numeric components separated by dots, no leading zeros, at most 64 characters (PS3.5 9.1).
UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")
TAG_RE = re.compile(r"[0-9A-Fa-f]{8}")
PIXEL_DATA = 0x7FE00010
TRANSFER_SYNTAX = 0x00020010


def tag_key(tag: int) -> str:
    """``0x0020000D`` -> ``"0020000D"``, the key of an attribute in DICOM JSON."""
    return f"{tag:08X}"


def parse_tag(name: str) -> int | None:
    """The tag a query parameter names: a keyword (``PatientName``) or 8 hex digits; None for neither."""
    if TAG_RE.fullmatch(name):
        return int(name, 16)
    tag = tag_for_keyword(name)
    return int(tag) if tag is not None else None


def vr_of(tag: int) -> str:
    """The dictionary VR of ``tag`` (the first of several; ``UN`` for a tag the dictionary lacks)."""
    try:
        return str(dictionary_VR(tag)).split(" or ")[0]
    except KeyError:
        return "UN"


def keyword(tag: int) -> str:
    return keyword_for_tag(tag) or tag_key(tag)


def element(tag: int, values: list[Any] | None, vr: str | None = None) -> tuple[str, Json]:
    """One attribute as a (key, JSON) pair; person names given as strings become ``{"Alphabetic": ...}``."""
    vr = vr or vr_of(tag)
    body: Json = {"vr": vr}
    clean = [v for v in (values or []) if v not in (None, "")]
    if clean:
        body["Value"] = [{"Alphabetic": str(v)} if vr == "PN" else v for v in clean]
    return tag_key(tag), body


def check_uid(value: str, field: str) -> str:
    """``value`` when it is a UID, else a ``RuleError`` on ``field`` saying what a UID looks like."""
    if len(value) > 64 or not UID_RE.fullmatch(value):
        raise RuleError(
            f"{field}: {value[:80]!r} is not a DICOM UID (digits and dots, at most 64 characters)",
            field=field,
        )
    return value


def read_header(path: Path) -> pydicom.Dataset:
    """The stored instance at ``path`` without its pixel data (and what follows it)."""
    return pydicom.dcmread(path, stop_before_pixels=True)


def dataset_json(ds: pydicom.Dataset, *, bulk_uri: str | None = None) -> Json:
    """``ds`` as DICOM JSON, its transfer syntax included; the pixel data as ``BulkDataURI`` when given.

    Elements that fail to encode (a malformed value in a stored file) are left out rather than failing the
    whole answer.
    """
    out: Json = ds.to_json_dict(bulk_data_threshold=2**31, suppress_invalid_tags=True)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax:
        key, value = element(TRANSFER_SYNTAX, [str(syntax)], "UI")
        out[key] = value
    if bulk_uri:
        compressed = bool(syntax) and pydicom.uid.UID(str(syntax)).is_compressed
        bits = int(ds.get("BitsAllocated", 16) or 16)
        vr = "OB" if compressed or bits <= 8 else "OW"
        out[tag_key(PIXEL_DATA)] = {"vr": vr, "BulkDataURI": bulk_uri}
    return dict(sorted(out.items()))


def pick(attributes: Json, tags: set[int] | None) -> Json:
    """The attributes of ``attributes`` (DICOM JSON) whose tags are in ``tags`` (all of them for None)."""
    if tags is None:
        return dict(attributes)
    keys = {tag_key(tag) for tag in tags}
    return {key: value for key, value in attributes.items() if key in keys}


def first_value(attributes: Json, tag: int) -> Any:
    """The first value of an attribute of DICOM JSON (a person name as its alphabetic string), or ''."""
    values = attributes.get(tag_key(tag), {}).get("Value") or [""]
    value = values[0]
    return value.get("Alphabetic", "") if isinstance(value, dict) else value
