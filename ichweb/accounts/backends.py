"""Login throttling: django-axes refuses a user name from an address after too many failed log-ins."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LoginLockoutBackend(AxesStandaloneBackend):
    """axes' lockout check for every login that comes with a request (the login forms, the admin's).

    ``authenticate()`` without a request (management commands, the shell, ``Client.login`` in tests) is
    not a login attempt over HTTP; axes would raise there, so this backend lets the next backend decide.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
