from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ichweb.accounts.permissions import role_required
from ichweb.accounts.roles import Role


@role_required(Role.READER, Role.LEAD)
def studies(request: HttpRequest) -> HttpResponse:
    """The reader-study participant's list of studies."""
    return render(request, "readerstudy/studies.html", {"studies": []})
