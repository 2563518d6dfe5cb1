"""``{% vite_entry "src/main.ts" %}``: script and stylesheet tags for a Vite entry, from its build manifest.

The manifest (frontend/dist/.vite/manifest.json) maps each entry to its fingerprinted files; Django serves
frontend/dist as static files. In DEBUG the manifest is re-read on every use so a rebuild shows at once.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()
log = logging.getLogger(__name__)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        log.warning("Frontend build missing (%s): run `make frontend`.", path)
        return {}


@cache
def _cached_manifest(path: Path) -> dict[str, Any]:
    return _read_manifest(path)


def manifest() -> dict[str, Any]:
    path = Path(settings.FRONTEND_DIST) / ".vite" / "manifest.json"
    return _read_manifest(path) if settings.DEBUG else _cached_manifest(path)


def _css_of(entries: dict[str, Any], key: str, seen: set[str]) -> list[str]:
    if key in seen or key not in entries:
        return []
    seen.add(key)
    chunk = entries[key]
    files = list(chunk.get("css", []))
    for imported in chunk.get("imports", []):
        files += _css_of(entries, imported, seen)
    return files


@register.simple_tag
def vite_entry(name: str) -> SafeString:
    entries = manifest()
    chunk = entries.get(name)
    if chunk is None:
        return format_html("<!-- frontend entry {} is not built -->", name)
    css = dict.fromkeys(_css_of(entries, name, set()))
    links = format_html_join("", '<link rel="stylesheet" href="{}">', ((static(f),) for f in css))
    return format_html('{}<script type="module" src="{}"></script>', links, static(chunk["file"]))
