from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ichweb.accounts.permissions import role_required
from ichweb.accounts.roles import Role


@role_required(Role.LEAD, Role.LABELER, Role.ADMIN)
def studies(request: HttpRequest) -> HttpResponse:
    return render(request, "imaging/studies.html", {"studies": []})
