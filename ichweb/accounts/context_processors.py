from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from ichweb.accounts.roles import roles_of


def roles(request: HttpRequest) -> dict[str, Any]:
    """``roles``: the current user's role codes, for navigation."""
    return {"roles": roles_of(request.user) if hasattr(request, "user") else set()}
