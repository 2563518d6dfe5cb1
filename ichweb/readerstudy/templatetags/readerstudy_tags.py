"""Formatting of result numbers on the reader-study pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

if TYPE_CHECKING:
    from typing_extensions import TypeIs

register = template.Library()


def _missing(value: object) -> TypeIs[Literal[""] | None]:
    """``None``, or the empty string a template gives for a lookup through ``None`` (``row.roc.auc``)."""
    return value is None or value == ""


@register.filter
def pct(value: float | str | None, digits: int = 1) -> str:
    """A fraction as a percentage, ``—`` when undefined: ``0.781 -> "78.1 %"``."""
    if _missing(value):
        return "—"
    return f"{100 * float(value):.{digits}f} %"


@register.filter
def interval(bounds: list[float | None] | str | None) -> str:
    """``[lo, hi]`` fractions as ``"70.2-85.9 %"``."""
    if _missing(bounds) or any(_missing(b) for b in bounds):
        return "—"
    values = cast("list[float]", bounds)  # neither missing nor holding a missing bound: the numbers
    return f"{100 * values[0]:.1f}-{100 * values[1]:.1f} %"


@register.filter
def number(value: float | str | None, digits: int = 3) -> str:
    return "—" if _missing(value) else f"{float(value):.{digits}f}"


@register.simple_tag
def panel_links(study_id: int, panel: str) -> SafeString:
    """The CSV and JSON links of a panel of the aided/unaided comparison."""
    url = reverse("readerstudy-mrmc-panel", args=[study_id, panel])
    return format_html('<a href="{}?format=csv">CSV</a> · <a href="{}">JSON</a>', url, url)
