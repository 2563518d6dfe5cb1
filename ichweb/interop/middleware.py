"""The gate of /dicomweb/: CORS, bearer tokens, the role check and the audit row of every call.

It runs after Django's ``AuthenticationMiddleware`` (a browser session counts) and before the upload guard
(``ichweb.lib.uploads``), so that the guard's role and size checks of STOW-RS see the token's user. Every
other path passes through untouched.

* A CORS preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an origin listed in
  ``ICHWEB_DICOMWEB_CORS_ORIGINS`` is answered here (204); from any other origin, 403. Answers to listed
  origins carry ``Access-Control-Allow-Origin``; credentials (cookies) are never allowed cross-origin, so a
  viewer on another origin uses a bearer token.
* ``Authorization: Bearer <token>``: an unknown, expired or revoked token is 401 at once.
* No token and no session: 401 with ``WWW-Authenticate: Bearer``; a user without a DICOMweb role: 403.
* Every call but a preflight leaves a ``DicomwebCall`` row (user, token, method, path, status, instances).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ichweb.interop import tokens
from ichweb.interop.access import DENIED, may_use_dicomweb
from ichweb.interop.models import DicomwebCall

log = logging.getLogger(__name__)

PREFIX = "/dicomweb/"
ALLOW_METHODS = "GET, HEAD, POST, OPTIONS"
ALLOW_HEADERS = frozenset({"authorization", "content-type", "accept", "cache-control", "x-requested-with"})
EXPOSE_HEADERS = "Content-Type, Content-Length, Content-Location, Warning, WWW-Authenticate"
CHALLENGE = 'Bearer realm="dicomweb"'
NO_CREDENTIALS = (
    "Authentication credentials were not provided: send Authorization: Bearer <token> "
    "or log in as a team lead or admin."
)


def note_instances(request: Any, n: int) -> None:
    """Record how many instances the answer to ``request`` carries (a DRF or a Django request)."""
    getattr(request, "_request", request).dicomweb_instances = n


def _json(status: int, detail: str, **headers: str) -> HttpResponse:
    response = HttpResponse(json.dumps({"detail": detail}), status=status, content_type="application/json")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


class DicomwebMiddleware:
    """See the module docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(PREFIX):
            return self.get_response(request)
        origin = request.headers.get("Origin", "")
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return self.preflight(request, origin)
        started = time.monotonic()
        response = self.guarded(request)
        if origin and origin in settings.ICHWEB_DICOMWEB_CORS_ORIGINS:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        response.headers.setdefault("Vary", "Origin")
        self.audit(request, response, started)
        return response

    def guarded(self, request: HttpRequest) -> HttpResponseBase:
        """401/403 for callers who may not use DICOMweb; the view's answer for the others."""
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            try:
                token = tokens.authenticate(secret)
            except tokens.TokenRefused as refused:
                return _json(401, str(refused), WWW_Authenticate=f'{CHALLENGE}, error="invalid_token"')
            request.user = token.user
            request.dicomweb_token = token  # type: ignore[attr-defined]  # read by the views' authentication
        user = request.user
        if not user.is_authenticated:
            return _json(401, NO_CREDENTIALS, WWW_Authenticate=CHALLENGE)
        if not may_use_dicomweb(user):
            return _json(403, DENIED)
        return self.get_response(request)

    def preflight(self, request: HttpRequest, origin: str) -> HttpResponse:
        """The answer to a CORS preflight: the methods and headers a listed origin may use."""
        if origin not in settings.ICHWEB_DICOMWEB_CORS_ORIGINS:
            return _json(403, f"origin {origin or '(none)'} is not in ICHWEB_DICOMWEB_CORS_ORIGINS")
        asked = request.headers.get("Access-Control-Request-Headers", "")
        headers = [h.strip() for h in asked.split(",") if h.strip().lower() in ALLOW_HEADERS]
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response["Access-Control-Allow-Headers"] = ", ".join(headers) or "Authorization, Accept"
        response["Access-Control-Max-Age"] = "600"
        response["Vary"] = "Origin"
        return response

    def audit(self, request: HttpRequest, response: HttpResponseBase, started: float) -> None:
        """One ``DicomwebCall`` row; a failure to write it is logged and never fails the answer."""
        user = getattr(request, "user", None)
        try:
            DicomwebCall.objects.create(
                user=user if user is not None and user.is_authenticated else None,
                token=getattr(request, "dicomweb_token", None),
                method=(request.method or "")[:8],
                path=request.path[:500],
                query=request.META.get("QUERY_STRING", "")[:1000],
                status=response.status_code,
                n_instances=getattr(request, "dicomweb_instances", 0),
                duration_ms=round((time.monotonic() - started) * 1000),
                remote_addr=request.META.get("REMOTE_ADDR") or None,
            )
        except Exception:
            log.exception("the audit row of %s %s could not be written", request.method, request.path)
