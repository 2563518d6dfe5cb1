from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ichweb.accounts.permissions import role_required
from ichweb.accounts.roles import Role


@role_required(Role.LEAD)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The team lead's dashboards."""
    return render(request, "analytics/dashboard.html", {})
