from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ichweb.accounts.permissions import role_required
from ichweb.accounts.roles import Role


@role_required(Role.LABELER, Role.LEAD)
def queue(request: HttpRequest) -> HttpResponse:
    """The labeler's work queue."""
    return render(request, "labeling/queue.html", {"assignments": []})
