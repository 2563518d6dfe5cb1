from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from ichweb.accounts.roles import ROLE_HOME, Role, roles_of


def home(request: HttpRequest) -> HttpResponse:
    """Send each user to their work; a user with several roles chooses, one without a role is told why."""
    held = roles_of(request.user)
    destinations = [(Role(role).label, reverse(ROLE_HOME[role])) for role in ROLE_HOME if role in held]
    if len(destinations) == 1:
        return redirect(destinations[0][1])
    return render(request, "accounts/home.html", {"destinations": destinations})


def locked_out(request: HttpRequest, response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """django-axes' lockout answer (``AXES_LOCKOUT_CALLABLE``): the login page saying why, with status 429.

    Used for the site's and the admin site's login forms alike; the correct password is refused as well
    until the cool-off ends or an administrator resets the lockout.
    """
    context = {
        "form": AuthenticationForm(request, initial={"username": (credentials or {}).get("username", "")}),
        "locked_out": True,
        "cooloff_minutes": _cooloff_minutes(),
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


def _cooloff_minutes() -> int | None:
    cooloff = settings.AXES_COOLOFF_TIME
    return round(cooloff.total_seconds() / 60) if cooloff else None


class LogoutView(auth_views.LogoutView):
    """Django's logout, plus ``Clear-Site-Data: "cache"``: cached slices and pages end with the session."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"cache"'
        return response
