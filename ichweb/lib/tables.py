"""The CSV form of the API's table documents (dashboard panels, reader-study panels, the MRMC long table).

A document carries its rows as ``table`` (and optionally a ``columns`` list that leads the header); the CSV
header is ``columns`` then the union of the rows' keys in first-seen order. An error document becomes rows
too (``detail`` as one ``error`` row, field errors as ``field, error`` rows), so a client that asked for CSV
reads why it got no table. The download is named after the view's ``csv_name``, else its action.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework.renderers import BaseRenderer


def _rows(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        return []
    rows: list[dict[str, Any]] = list(data.get("table", []))
    if not rows and "detail" in data:
        rows = [{"error": data["detail"]}]
    if not rows and any(isinstance(v, list) for v in data.values()):
        rows = [{"field": k, "error": " ".join(map(str, v))} for k, v in data.items() if isinstance(v, list)]
    return rows


class TableCSVRenderer(BaseRenderer):
    """A document's ``table`` rows as CSV (module docstring)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        rows = _rows(data)
        header: list[str] = list((data.get("columns") if isinstance(data, dict) else None) or [])
        for row in rows:
            header += [k for k in row if k not in header]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        response = renderer_context.get("response") if renderer_context else None
        view = renderer_context.get("view") if renderer_context else None
        if response is not None and view is not None:
            name = getattr(view, "csv_name", None) or getattr(view, "action", None) or "table"
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return out.getvalue().encode()
