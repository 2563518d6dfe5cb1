"""``multipart/related`` bodies (RFC 2387) both ways, streamed, and the media types of Accept headers.

The writer yields a body part by part from files on disk, so a retrieve of a whole study never sits in
memory. The reader splits a request body into files as it arrives, stops at ``limit`` bytes, and refuses a
body that does not keep to the boundary it declared, naming what is wrong: a STOW-RS request is judged whole
before anything of it is imported.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from ichweb.errors import RuleError
from ichweb.lib.uploads import UploadTooLarge, too_large_message

CHUNK = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
CRLF = b"\r\n"


@dataclass(frozen=True)
class MediaType:
    """A media type with its parameters (names lower-case), e.g. multipart/related; type=application/dicom."""

    type: str
    params: dict[str, str] = field(default_factory=dict)
    quality: float = 1.0


def parse_media_type(value: str) -> MediaType:
    """``value`` (a Content-Type, or one range of an Accept header) as a ``MediaType``."""
    message = Message()
    message["content-type"] = value
    params = {k.lower(): v for k, v in message.get_params(failobj=[])[1:] if isinstance(v, str)}
    try:
        quality = float(params.pop("q", "1"))
    except ValueError:
        quality = 0.0
    main = value.split(";", 1)[0].strip().lower() or "*/*"
    return MediaType(main, params, quality)


def parse_accept(header: str) -> list[MediaType]:
    """The media ranges of an Accept header, best first; ``*/*`` when there is none.

    Ranges are split at commas outside quotes (a quoted ``type="..."`` parameter may not hold one).
    """
    ranges, current, quoted = [], "", False
    for char in header or "":
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            ranges.append(current)
            current = ""
        else:
            current += char
    ranges.append(current)
    found = [parse_media_type(r) for r in ranges if r.strip()]
    found = [m for m in found if m.quality > 0] or ([MediaType("*/*")] if not found else [])
    return sorted(found, key=lambda m: -m.quality)


def new_boundary() -> str:
    return f"ichweb-{secrets.token_hex(12)}"


Part = tuple[dict[str, str], Iterable[bytes]]


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def write_parts(parts: Iterable[Part], boundary: str) -> Iterator[bytes]:
    """A multipart/related body: each part's headers, then its bytes, then the closing delimiter."""
    delimiter = b"--" + boundary.encode()
    for headers, body in parts:
        yield delimiter + CRLF + b"".join(f"{k}: {v}".encode() + CRLF for k, v in headers.items()) + CRLF
        yield from body
        yield CRLF
    yield delimiter + b"--" + CRLF


@dataclass
class ReceivedPart:
    """One part of a request body, its bytes saved to ``path``."""

    index: int
    headers: dict[str, str]
    path: Path

    @property
    def content_type(self) -> MediaType | None:
        raw = self.headers.get("content-type")
        return parse_media_type(raw) if raw else None


class _Stream:
    """A request body read in chunks, counted against ``limit``, searched for delimiters."""

    def __init__(self, read: Callable[[int], bytes], limit: int, setting: str) -> None:
        self.read, self.limit, self.setting = read, limit, setting
        self.buffer, self.total, self.eof = CRLF, 0, False  # the CRLF lets the first delimiter match

    def fill(self) -> None:
        chunk = self.read(CHUNK)
        if not chunk:
            self.eof = True
            return
        self.total += len(chunk)
        if self.total > self.limit:
            raise UploadTooLarge(
                too_large_message(None, self.limit, self.setting, "send fewer instances per request")
            )
        self.buffer += chunk

    def until(self, delimiter: bytes, sink: Callable[[bytes], object] | None, cap: int | None = None) -> bool:
        """Pass the bytes before ``delimiter`` to ``sink`` and drop the delimiter; False if the body ends."""
        keep, passed = len(delimiter) - 1, 0
        while True:
            at = self.buffer.find(delimiter)
            if at >= 0:
                if sink is not None:
                    sink(self.buffer[:at])
                self.buffer = self.buffer[at + len(delimiter) :]
                return True
            if len(self.buffer) > keep:
                head, self.buffer = self.buffer[:-keep], self.buffer[-keep:]
                passed += len(head)
                if cap is not None and passed > cap:
                    raise RuleError(f"a part's headers are longer than {cap} bytes", field="body")
                if sink is not None:
                    sink(head)
            if self.eof:
                return False
            self.fill()

    def peek(self, n: int) -> bytes:
        while len(self.buffer) < n and not self.eof:
            self.fill()
        return self.buffer[:n]

    def skip(self, n: int) -> None:
        self.buffer = self.buffer[n:]


def _headers(raw: bytes, index: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise RuleError(f"part {index}: header line {line[:60]!r} has no colon", field="body")
        headers[name.strip().lower()] = value.strip()
    return headers


def read_parts(
    body: BinaryIO, boundary: str, folder: Path, *, limit: int, setting: str
) -> list[ReceivedPart]:
    """Split a multipart body into files under ``folder``; parts numbered from 1.

    Raises:
        RuleError: the body does not contain the boundary, a part is malformed or the body ends before the
            closing delimiter (``--boundary--``).
        UploadTooLarge: more than ``limit`` bytes arrive.
    """
    stream = _Stream(body.read, limit, setting)
    delimiter = CRLF + b"--" + boundary.encode()
    if not stream.until(delimiter, None):
        raise RuleError(
            f"the body holds no part delimited by the boundary {boundary!r} of its Content-Type: "
            "check the boundary parameter",
            field="boundary",
        )
    parts: list[ReceivedPart] = []
    while True:
        if stream.peek(2) == b"--":
            break
        index = len(parts) + 1
        padding = bytearray()
        if not stream.until(CRLF, padding.extend, cap=MAX_HEADER_BYTES) or padding.strip(b" \t"):
            raise RuleError(
                f"the delimiter line before part {index} is malformed (or the body was cut short)",
                field="boundary",
            )
        raw = bytearray()
        if stream.peek(2) == CRLF:  # a part without headers
            stream.skip(2)
        elif not stream.until(CRLF + CRLF, raw.extend, cap=MAX_HEADER_BYTES):
            raise RuleError(f"part {index}: the body ends inside its headers", field="body")
        path = folder / f"part-{index:05d}"
        with path.open("wb") as out:
            if not stream.until(delimiter, out.write):
                raise RuleError(
                    f"part {index}: the body ends before the closing boundary --{boundary}-- "
                    "(cut short?); nothing was stored",
                    field="body",
                )
        parts.append(ReceivedPart(index, _headers(bytes(raw), index), path))
    if not parts:
        raise RuleError("the body holds no part: send at least one DICOM instance", field="body")
    return parts
