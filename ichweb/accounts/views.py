from __future__ import annotations

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
