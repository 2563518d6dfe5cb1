"""Turning what a user hands in (files, folders, zips) into a flat list of files, safely.

Zips are checked before anything is extracted: entry names (no ``..`` or absolute paths), entry count,
total expanded size and compression ratio; extraction then counts the bytes actually written, so a
zip that lies in its headers is stopped too.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_unzipped_bytes: int
    max_ratio: int


@dataclass(frozen=True)
class InputFile:
    name: str  # as the user knows it: relative path in the upload or "archive.zip/entry"
    path: Path


@dataclass(frozen=True)
class Rejected:
    name: str
    reason: str


def expand(
    items: Iterable[tuple[str, Path]], scratch: Path, limits: Limits
) -> tuple[list[InputFile], list[Rejected]]:
    """Flatten (name, path) items: walk folders, extract zips into ``scratch``; hidden files are ignored."""
    files: list[InputFile] = []
    rejected: list[Rejected] = []
    for name, path in items:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = child.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                _add(files, rejected, f"{name}/{rel.as_posix()}", child, scratch, limits)
        elif path.is_file():
            _add(files, rejected, name, path, scratch, limits)
        else:
            rejected.append(Rejected(name, "no such file or folder"))
        if len(files) > limits.max_files:
            rejected.append(
                Rejected(name, f"more than {limits.max_files} files in one import: split the upload")
            )
            return [], rejected
    return files, rejected


def _add(
    files: list[InputFile], rejected: list[Rejected], name: str, path: Path, scratch: Path, limits: Limits
) -> None:
    # A zip is named .zip; extensionless files are sniffed (zip-based formats such as .npz are not zips here).
    if name.lower().endswith(".zip") or (not PurePosixPath(name).suffix and _starts_like_zip(path)):
        try:
            extracted, refused = extract_zip(
                name, path, scratch / f"zip{len(files)}_{path.stem[:40]}", limits
            )
        except zipfile.BadZipFile:
            rejected.append(Rejected(name, "damaged zip archive: create it again"))
            return
        files.extend(extracted)
        rejected.extend(refused)
    else:
        files.append(InputFile(name, path))


def _starts_like_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def safe_member_name(member: str) -> PurePosixPath | None:
    """The entry's relative path, or None when it could escape the extraction folder."""
    normalised = member.replace("\\", "/")
    path = PurePosixPath(normalised)
    if not normalised or normalised.startswith("/") or ".." in path.parts:
        return None
    if ":" in path.parts[0]:  # a Windows drive letter such as C:
        return None
    return path


def extract_zip(
    name: str, archive: Path, target: Path, limits: Limits
) -> tuple[list[InputFile], list[Rejected]]:
    """Extract a zip after checking it; the whole archive is refused when it breaks a size limit."""
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) > limits.max_files:
            return [], [
                Rejected(name, f"zip holds {len(members)} files, over the limit of {limits.max_files}")
            ]
        declared = sum(m.file_size for m in members)
        compressed = max(1, sum(m.compress_size for m in members))
        if declared > limits.max_unzipped_bytes:
            return [], [
                Rejected(
                    name,
                    f"zip would expand to {declared / 1e9:.1f} GB, over the limit of "
                    f"{limits.max_unzipped_bytes / 1e9:.1f} GB: split it",
                )
            ]
        worst = max(
            (m.file_size / max(1, m.compress_size) for m in members if m.file_size > CHUNK), default=0
        )
        ratio = max(declared / compressed, worst)
        if ratio > limits.max_ratio:
            return [], [
                Rejected(
                    name,
                    f"compression ratio {ratio:.0f}:1 is over {limits.max_ratio}:1 (a zip bomb?): refused",
                )
            ]
        files: list[InputFile] = []
        rejected: list[Rejected] = []
        budget = limits.max_unzipped_bytes
        for member in members:
            shown = f"{name}/{member.filename}"
            rel = safe_member_name(member.filename)
            if rel is None:
                rejected.append(Rejected(shown, "unsafe path in zip (absolute or with ..): refused"))
                continue
            if any(part.startswith(".") for part in rel.parts) or rel.name == "__MACOSX":
                continue
            if member.filename.lower().endswith(".zip"):
                rejected.append(Rejected(shown, "zip inside a zip: extract the inner archive first"))
                continue
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(member) as src, out.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    written += len(chunk)
                    if written > member.file_size or written > budget:
                        dst.close()
                        shutil.rmtree(target, ignore_errors=True)
                        return [], [Rejected(name, "zip entries expand beyond their declared size: refused")]
                    dst.write(chunk)
            budget -= written
            files.append(InputFile(shown, out))
        return files, rejected
