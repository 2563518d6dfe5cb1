from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from ichweb.accounts.permissions import role_required
from ichweb.accounts.roles import is_manager
from ichweb.imaging import access
from ichweb.imaging.render import PRESETS


@role_required(*access.VIEW_ROLES)
def studies(request: HttpRequest) -> HttpResponse:
    """Imported studies with thumbnails, slice counts and import status; the upload widget for importers."""
    rows = access.visible_studies(request.user).prefetch_related("series", "import_jobs")[:200]
    jobs = access.visible_jobs(request.user)[:10]
    return render(
        request,
        "imaging/studies.html",
        {"studies": rows, "jobs": jobs, "can_import": access.can_import(request.user)},
    )


@role_required(*access.VIEW_ROLES)
def study(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(access.visible_studies(request.user).prefetch_related("series__slices"), pk=pk)
    # The review page (modeling) is for leads here; labelers reach it from their finished reads.
    context = {"study": item, "presets": PRESETS, "links_review": is_manager(request.user)}
    return render(request, "imaging/study.html", context)


@role_required(*access.VIEW_ROLES)
def import_job(request: HttpRequest, pk: str) -> HttpResponse:
    job = get_object_or_404(access.visible_jobs(request.user).prefetch_related("studies"), pk=pk)
    return render(request, "imaging/import_job.html", {"job": job})
