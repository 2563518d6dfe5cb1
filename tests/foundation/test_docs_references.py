"""Every pointer into the project's documents resolves: the file exists and so does the section it names.

A docstring or comment such as ``(docs/science.md, "Statistics")`` sends a newcomer to a file of this
repository; a pointer to a file or a heading that is not there is a broken promise, so it fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *ROOT.glob("ichweb/**/*.py"),
    *ROOT.glob("ichweb/**/*.html"),
    *ROOT.glob("ml/**/*.py"),
    *ROOT.glob("bench/*.py"),
    *ROOT.glob("frontend/src/**/*.ts"),
]
#: ``docs/<name>.md``, optionally followed by ``, "Section"`` on the same line.
REFERENCE = re.compile(r'\b(docs/[\w-]+\.md|CONTRIBUTING\.md|README\.md)(?:, "([^"\n]+)")?')
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)


def _references() -> list[tuple[Path, str, str | None]]:
    found = []
    for source in SOURCES:
        for match in REFERENCE.finditer(source.read_text(encoding="utf-8")):
            found.append((source.relative_to(ROOT), match.group(1), match.group(2)))
    return found


def test_there_are_references_to_check():
    assert len(_references()) > 50


def test_every_referenced_document_and_section_exists():
    broken = []
    for source, document, section in _references():
        path = ROOT / document
        if not path.is_file():
            broken.append(f"{source}: {document} does not exist")
            continue
        if section is not None:
            headings = HEADING.findall(path.read_text(encoding="utf-8"))
            if not any(heading.startswith(section) for heading in headings):
                broken.append(f'{source}: {document} has no section "{section}"')
    assert not broken, "\n".join(sorted(set(broken)))


def test_no_reference_points_outside_the_repository():
    outside = re.compile(r"\b(SCIENCE|DESIGN|STYLE)\.md\b|\.\./shared")
    hits = [str(p.relative_to(ROOT)) for p in SOURCES if outside.search(p.read_text(encoding="utf-8"))]
    assert not hits, hits
