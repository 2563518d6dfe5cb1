from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from ichweb.accounts.permissions import role_required
from ichweb.accounts.roles import MANAGERS, Role, has_role
from ichweb.labeling import services
from ichweb.labeling.api import consensus_view
from ichweb.labeling.forms import ProjectForm
from ichweb.labeling.models import Case, ExclusionReason, Project, Read, Subtype


@role_required(Role.LABELER, Role.LEAD)
def queue(request: HttpRequest) -> HttpResponse:
    """The reader's work queue with progress; "resume" opens the first read not yet submitted."""
    reads = list(services.reads_of(request.user).select_related("case__study"))
    done = sum(r.status == Read.Status.SUBMITTED for r in reads)
    resume = next((r for r in reads if r.status != Read.Status.SUBMITTED), None)
    projects = Project.objects.all()[:20] if has_role(request.user, Role.LEAD) else []
    return render(
        request, "labeling/queue.html", {"reads": reads, "done": done, "resume": resume, "projects": projects}
    )


@role_required(Role.LABELER, Role.LEAD)
def read(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(services.reads_of(request.user), pk=pk)
    return render(request, "labeling/read.html", {"read": item})


@role_required(*MANAGERS)
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = services.create_project(
                lead=request.user,
                name=data["name"],
                description=data["description"],
                mode=data["mode"],
                readers_per_case=data["readers_per_case"],
                discordance=data["discordance"],
                show_reader_identities=data["show_reader_identities"],
                studies=list(data["studies"]),
                readers=list(data["readers"]),
                adjudicators=list(data["adjudicators"]),
            )
        except services.LabelingError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Project {project.name} created with {project.cases.count()} cases.")
            return redirect("labeling:project", pk=project.pk)
    return render(request, "labeling/project_new.html", {"form": form})


@role_required(*MANAGERS)
def project(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Project, pk=pk)
    cases = item.cases.select_related("study").prefetch_related("reads__reader")
    progress = services.reader_progress(item)
    return render(request, "labeling/project.html", {"project": item, "cases": cases, "progress": progress})


@role_required(*MANAGERS)
def consensus(request: HttpRequest, pk: int, case_id: int) -> HttpResponse:
    case = get_object_or_404(Case.objects.select_related("project", "series"), pk=case_id, project_id=pk)
    view = consensus_view(case)
    if request.method == "POST":
        chosen = {
            str(i): [c for c in Subtype.values if request.POST.get(f"s{i}-{c}")]
            for i in view["discordant_slices"]
        }
        try:
            services.record_consensus(case, request.user, chosen, request.POST.get("exclusion", ""))
        except services.LabelingError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Consensus recorded for case {case.pk}.")
            return redirect("labeling:project", pk=pk)
    rows = [
        {"index": i, "reads": [r["labels"].get(str(i), []) for r in view["reads"]]}
        for i in view["discordant_slices"]
    ]
    return render(
        request,
        "labeling/consensus.html",
        {
            "case": case,
            "view": view,
            "rows": rows,
            "subtypes": Subtype.values,
            "exclusion_reasons": ExclusionReason.choices,
        },
    )
