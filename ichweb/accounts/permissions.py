"""Role checks for views and the API. Object-level checks live beside each room's services."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from ichweb.accounts.roles import MANAGERS, has_role


def role_required(*roles: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator: the user must hold one of ``roles`` (login is already enforced everywhere)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, *roles):
                raise PermissionDenied(f"This page is for the role(s): {', '.join(roles)}.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class HasRole(BasePermission):
    """DRF permission: ``permission_classes = [HasRole.of("lead")]``."""

    roles: tuple[str, ...] = ()
    message = "Your role does not allow this."

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        return type(f"HasRole_{'_'.join(roles)}", (cls,), {"roles": roles})

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and has_role(request.user, *self.roles))


#: DRF permission for team leads and admins: ``permission_classes = [Managers]``.
Managers = HasRole.of(*MANAGERS)
