"""Request bodies are judged before they are read: role and declared size first, then a streaming cap.

Django parses a multipart body (spooling files over ``FILE_UPLOAD_MAX_MEMORY_SIZE`` to temporary files)
the first time anything touches ``request.POST`` or ``request.FILES``, and the CSRF check does so on every
POST. A refused upload would therefore land on disk before its 403 or 413. ``UploadGuardMiddleware`` runs
before any of that:

* on an **upload route** (a DRF viewset action named in the viewset's ``upload_rules``) it answers
  anonymous callers and users whose role may not upload with 403, and a declared ``Content-Length`` over
  the route's limit with 413, without reading a byte of the body;
* on **every other route** the declared body may not exceed ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (those routes
  take JSON or forms, never files);
* on both it puts ``BodyCapUploadHandler`` first in the request's upload handlers, which aborts the parse
  (413) as soon as the file data received passes the same limit, so a body whose length was not declared
  (or not checked) cannot fill the disk either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import status
from rest_framework.exceptions import APIException

NOT_AUTHENTICATED = "Authentication credentials were not provided."


@dataclass(frozen=True)
class UploadRule:
    """Who may upload to a route and how much: declared on a viewset as ``upload_rules = {action: rule}``."""

    allowed: Callable[[Any], bool]
    #: Said to a logged-in user whose role may not upload.
    denied: str
    #: Name of the setting that holds the route's limit in bytes (read per request, so tests may override).
    limit_setting: str
    #: What to do with an upload over the limit.
    advice: str

    @property
    def limit(self) -> int:
        return int(getattr(settings, self.limit_setting))


def human_size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} bytes"


def too_large_message(size: int | None, limit: int, setting: str, advice: str) -> str:
    what = f"upload of {human_size(size)}" if size is not None else "upload"
    return f"{what} is over the limit of {human_size(limit)} ({setting}): {advice}"


class UploadTooLarge(APIException, RequestDataTooBig):
    """Raised by the streaming cap: 413 JSON inside DRF, Django's 400 for a bad request elsewhere."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "upload_too_large"


class BodyCapUploadHandler(FileUploadHandler):
    """First upload handler of a request: stops the parse once the file data passes ``limit`` bytes.

    It passes every chunk on unchanged, so the handlers after it (memory, temporary file) see at most
    ``limit`` bytes. Past the limit it stops the upload (Django then closes, and thereby deletes, the
    temporary file being written, and reads no further) and refuses the request when the parser signals
    the end of the upload.
    """

    def __init__(self, limit: int, setting: str, advice: str, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit, self.setting, self.advice = limit, setting, advice
        self.received = 0
        self.over = False

    def _refuse(self, size: int | None) -> UploadTooLarge:
        return UploadTooLarge(too_large_message(size, self.limit, self.setting, self.advice))

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: Any = None
    ) -> None:
        if content_length and content_length > self.limit:
            raise self._refuse(content_length)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.over = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file

    def upload_complete(self) -> None:
        if self.over:
            raise self._refuse(None)


def upload_rule(view_func: Callable[..., Any], method: str | None) -> UploadRule | None:
    """The ``UploadRule`` of the DRF viewset action ``view_func`` runs for ``method``, if it declares one."""
    cls = getattr(view_func, "cls", None)
    action = (getattr(view_func, "actions", None) or {}).get((method or "").lower())
    rules = getattr(cls, "upload_rules", None) or {}
    return rules.get(action)


def _declared_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0  # Django reads such a body as empty


def _answer(request: HttpRequest, status_code: int, detail: str, **extra: Any) -> HttpResponse:
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    if request.path_info.startswith("/api/") or wants_json:
        return JsonResponse({"detail": detail, **extra}, status=status_code)
    return HttpResponse(detail, status=status_code, content_type="text/plain; charset=utf-8")


class UploadGuardMiddleware:
    """Role and size checks once the URL is resolved and before anything reads the body.

    The checks run as ``process_view``: Django has resolved the view already (no second resolve), the user
    is known (after ``AuthenticationMiddleware``), and no view has read the body. List it before
    ``CsrfViewMiddleware``, whose own ``process_view`` reads a form's body.
    """

    BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        length = _declared_length(request)
        if request.method in self.BODY_METHODS or length:
            return self.check(request, length, view_func)
        return None

    def check(self, request: HttpRequest, length: int, view_func: Callable[..., Any]) -> HttpResponse | None:
        rule = upload_rule(view_func, request.method) if request.method in self.BODY_METHODS else None
        if rule is not None:
            user = request.user
            if not user.is_authenticated:
                return _answer(request, status.HTTP_403_FORBIDDEN, NOT_AUTHENTICATED)
            if not rule.allowed(user):
                return _answer(request, status.HTTP_403_FORBIDDEN, rule.denied)
            limit, setting, advice = rule.limit, rule.limit_setting, rule.advice
        else:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            setting = "DATA_UPLOAD_MAX_MEMORY_SIZE"
            advice = "this address takes no file uploads; send less data"
            if limit is None:
                return None
        if length > limit:
            return _answer(
                request,
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                too_large_message(length, limit, setting, advice),
                limit_bytes=limit,
            )
        request.upload_handlers.insert(0, BodyCapUploadHandler(limit, setting, advice, request))
        return None
