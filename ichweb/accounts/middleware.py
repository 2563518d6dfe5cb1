"""Login everywhere: pages redirect to the login form; the API answers 401/403 through DRF instead."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponseBase


class LoginRequiredMiddleware(DjangoLoginRequired):
    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None  # DRF's default IsAuthenticated permission answers with a JSON 401/403.
        return super().process_view(request, view_func, view_args, view_kwargs)
