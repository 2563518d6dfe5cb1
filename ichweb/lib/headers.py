"""Response headers of every answer: Permissions-Policy everywhere, ``Cache-Control: no-store`` on the API.

The Content-Security-Policy comes from django-csp (``CONTENT_SECURITY_POLICY`` in settings). API answers
(JSON, CSV) carry clinical data and must not stay in browser or proxy caches after logout; the pixel
routes set their own ``Cache-Control`` (private, one day: pixels of a series never change) and keep it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def permissions_policy(features: dict[str, list[str]]) -> str:
    """``{"camera": []}`` -> ``camera=()``; origins are written as given (``self``, ``"https://..."``)."""
    return ", ".join(f"{name}=({' '.join(origins)})" for name, origins in features.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = permissions_policy(settings.PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Permissions-Policy", self.policy)
        if request.path_info.startswith("/api/") and "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response
