"""The one error vocabulary of ICHweb's rules, and the one DRF exception handler that answers it.

Services raise these; API views never translate them (the handler does, for the whole API):

* ``RuleError(message, field)``: a request that breaks a rule -> 400, ``{field: [message]}`` (or
  ``{"detail": message}`` when no one field is at fault). The message says what to do.
* ``Conflict``: the object's state refuses the request (a locked answer, a task not open yet) -> 409.
* ``StaleVersion(current)``: a write from a stale copy -> 409 with the ``version`` to reload.
* ``Missing``: the named object does not exist, or is not the caller's -> 404.

Anything else that escapes an API view is logged and answered as JSON 500, never as an HTML page;
``handler500`` does the same for errors outside DRF under ``/api/``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, JsonResponse
from rest_framework import status
from rest_framework.metadata import SimpleMetadata
from rest_framework.response import Response

log = logging.getLogger("ichweb.errors")

#: A row id in a URL: 1 to 18 digits, so that it always fits the database's 64-bit integers (a longer one is a
#: 404 from the URL resolver, not an overflow in the database driver).
ID_REGEX = r"\d{1,18}"
#: The largest row id a request may name in a body (the database's 64-bit integers).
MAX_ID = 2**63 - 1

SERVER_ERROR = (
    "The server failed on this request; the error is logged. Try again, and if it happens again tell an "
    "administrator the time and the address you called."
)


class RuleError(ValueError):
    """A request that breaks a rule (HTTP 400); ``field`` names the input at fault."""

    status_code: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, field: str = "detail") -> None:
        super().__init__(message)
        self.field = field

    def body(self) -> dict[str, Any]:
        return {"detail": str(self)} if self.field == "detail" else {self.field: [str(self)]}


class Conflict(RuleError):
    """A request the current state refuses (HTTP 409)."""

    status_code = status.HTTP_409_CONFLICT

    def body(self) -> dict[str, Any]:
        return {"detail": str(self)}


class StaleVersion(Conflict):
    """A write based on an old version of an object (HTTP 409); ``current`` is the version to reload."""

    def __init__(self, current: int, message: str = "") -> None:
        super().__init__(
            message or "This was changed in another tab or window: reload to see the latest version."
        )
        self.current = current

    def body(self) -> dict[str, Any]:
        return {"detail": str(self), "version": self.current}


class Missing(RuleError):
    """The object named does not exist or is not the caller's (HTTP 404)."""

    status_code = status.HTTP_404_NOT_FOUND

    def body(self) -> dict[str, Any]:
        return {"detail": str(self)}


def require_mapping(data: Any, what: str = "the request body") -> dict[str, Any]:
    """``data`` when it is a JSON object, else a ``RuleError`` saying so."""
    if not isinstance(data, dict):
        raise RuleError(f"send {what} as a JSON object")
    return data


def integer(value: Any, field: str, *, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (digits in a string are fine); else a ``RuleError``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RuleError(f"{field} must be an integer", field=field)
    try:
        number = int(value)
    except ValueError:
        raise RuleError(f"{field} must be an integer", field=field) from None
    if not minimum <= number <= maximum:
        raise RuleError(f"{field} must lie between {minimum} and {maximum}", field=field)
    return number


def row_id(raw: str, field: str, what: str = "an id") -> int:
    """A row id from a query parameter (``ID_REGEX``), else a ``RuleError`` on ``field``."""
    if not re.fullmatch(ID_REGEX, raw or ""):
        raise RuleError(f"{field} must be {what} (a positive whole number)", field=field)
    return int(raw)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus the domain errors above, 404 for missing rows and JSON for the unexpected."""
    if isinstance(exc, RuleError):
        return Response(exc.body(), status=exc.status_code)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": f"not found: {exc}"}, status=status.HTTP_404_NOT_FOUND)
    from rest_framework.views import exception_handler  # here: rest_framework.views imports this module

    response = exception_handler(exc, context)
    if response is not None:
        return response
    if settings.DEBUG:
        return None  # the debug page, with its traceback
    request = context.get("request")
    log.exception("unhandled error in %s", getattr(request, "path", "an API view"), exc_info=exc)
    return Response({"detail": SERVER_ERROR}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


class Metadata(SimpleMetadata):
    """``OPTIONS``: DRF's description, with the writable fields only of views that declare a serializer."""

    def determine_actions(self, request: Any, view: Any) -> dict[str, Any]:
        try:
            view.get_serializer_class()
        except AssertionError:  # DRF's way of saying that a view has no serializer_class
            return {}
        return super().determine_actions(request, view)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    """``handler500``: JSON under ``/api/``, the site's error page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": SERVER_ERROR}, status=500)
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request, *args, **kwargs)
