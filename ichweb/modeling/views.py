"""Lead pages (runs, models) and the review page of a series."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from rest_framework.exceptions import ValidationError

from ichweb.accounts.permissions import role_required
from ichweb.accounts.roles import MANAGERS
from ichweb.labeling.models import Project
from ichweb.modeling import access, inference, training
from ichweb.modeling.api import StartRunSerializer, start_run_from
from ichweb.modeling.models import ModelVersion, TrainingRun
from ml.recipes import RECIPES


def _form_errors(detail: object) -> list[str]:
    if isinstance(detail, dict):
        return [f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in detail.items()]
    return [str(detail)]


@role_required(*MANAGERS)
def index(request: HttpRequest) -> HttpResponse:
    """Start a run; list runs and model versions with their metrics; activate a version."""
    errors: list[str] = []
    if request.method == "POST":
        form = StartRunSerializer(data=request.POST)
        try:
            form.is_valid(raise_exception=True)
            run = start_run_from(form.validated_data, request.user)
        except ValidationError as exc:
            errors = _form_errors(exc.detail)
        else:
            messages.success(request, f"Run {run.pk} queued.")
            return redirect("modeling:run", run.pk)
    context = {
        "recipes": [(name, r) for name, r in RECIPES.items()],
        "projects": Project.objects.order_by("-created_at")[:50],
        "runs": TrainingRun.objects.select_related("model_version").defer("snapshot")[:50],
        "versions": ModelVersion.objects.all()[:50],
        "errors": errors,
        "posted": request.POST,
    }
    return render(request, "modeling/index.html", context)


@role_required(*MANAGERS)
def run(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(TrainingRun.objects.select_related("model_version"), pk=pk)
    if request.method == "POST" and "cancel" in request.POST:
        training.cancel_run(item)
        messages.info(request, f"Run {item.pk} cancelled.")
        return redirect("modeling:run", item.pk)
    return render(request, "modeling/run.html", {"run": item, "counts": item.counts()})


@role_required(*MANAGERS)
def version(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ModelVersion, pk=pk)
    if request.method == "POST" and "activate" in request.POST:
        training.activate(item)
        messages.success(request, f"{item.name} is now the active model.")
        return redirect("modeling:version", item.pk)
    if request.method == "POST" and "predict_all" in request.POST:
        n = inference.predict_all(item, user=request.user)
        messages.info(request, f"{n} series queued for {item.name}.")
        return redirect("modeling:version", item.pk)
    return render(request, "modeling/version.html", {"version": item})


def review(request: HttpRequest, series_id: int) -> HttpResponse:
    """The review page; the document itself comes from the API (same access rule)."""
    series = get_object_or_404(access.reviewable_series(request.user).select_related("study"), pk=series_id)
    if request.method == "POST" and access.can_manage(request.user):
        job = inference.request_inference(series, user=request.user)
        if job is None:
            messages.error(request, "No model is active: train one or activate a version first.")
        else:
            messages.info(request, "Inference queued.")
        return redirect("modeling:review", series.pk)
    return render(
        request, "modeling/review.html", {"series": series, "can_manage": access.can_manage(request.user)}
    )
