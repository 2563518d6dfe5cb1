"""Reader-study pages: the list, a study's page, the participant's task pages, consensus and results.

The task pages are shells for the ``src/readerstudy.ts`` app, which works only through the API (where the
blinding and the task order are enforced).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from ichweb.accounts.permissions import role_required
from ichweb.accounts.roles import MANAGERS, Role, is_manager
from ichweb.readerstudy import access, material, mrmc_results, results, services
from ichweb.readerstudy.forms import StudyForm
from ichweb.readerstudy.models import ReaderStudy

ANY_ROLE = (Role.READER, *MANAGERS)
#: Task page -> the API list it works on.
TASKS = {
    "read": "readerstudy-case-list",
    "localise": "readerstudy-localisation-list",
    "questionnaire": "readerstudy-questionnaire-list",
    "consensus": "readerstudy-consensus-list",
}


@role_required(*ANY_ROLE)
def studies(request: HttpRequest) -> HttpResponse:
    """A participant's studies with their progress; leads also see every study and create new ones."""
    mine = [(s, access.progress(s, request.user)) for s in access.participant_studies(request.user)]
    manager = is_manager(request.user)
    managed = ReaderStudy.objects.all()[:100] if manager else []
    return render(request, "readerstudy/studies.html", {"mine": mine, "managed": managed, "manager": manager})


@role_required(*MANAGERS)
def study_new(request: HttpRequest) -> HttpResponse:
    form = StudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            study, report = services.create_study(lead=request.user, **form.cleaned_data)
        except services.ReaderStudyError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(
                request, f"Study {study.name} created: {study.cases.count()} cases, {report.items} slices."
            )
            return redirect("readerstudy:study", pk=study.pk)
    return render(request, "readerstudy/study_new.html", {"form": form})


def _manage(request: HttpRequest, study: ReaderStudy) -> None:
    """The lead's buttons: rebuild the material, lock or unlock answers."""
    action = request.POST.get("action")
    if action == "material":
        try:
            report = material.prepare_material(study)
        except material.MaterialLocked as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Material rebuilt: {report.items} slices.")
    elif action in ("lock", "unlock"):
        services.update_study(study, {"answers_changeable": action == "unlock"})
        messages.success(request, "Answers can be changed." if action == "unlock" else "Answers are locked.")


@role_required(*ANY_ROLE)
def study(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(access.visible_studies(request.user), pk=pk)
    manager = is_manager(request.user)
    user = request.user
    assert user.is_authenticated  # role_required: only a signed-in user holds a role
    participant = item.participants.filter(pk=user.pk).exists()
    if request.method == "POST":
        if request.POST.get("action") == "finish_localisation" and participant:
            try:
                services.finish_localisation(item, request.user)
            except services.ReaderStudyError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, "Your bleeding points are final.")
            return redirect("readerstudy:study", pk=pk)
        if not manager:
            raise PermissionDenied("Only leads manage a study.")
        _manage(request, item)
        return redirect("readerstudy:study", pk=pk)
    state = access.progress(item, request.user) if participant else None
    context = {
        "study": item,
        "progress": state,
        # Marked every slice, and the marks can still change: not final yet.
        "can_finish_localisation": state is not None
        and state.localisation_finished
        and access.can_change(item, request.user, access.LOCALISATION),
        "manager": manager,
        "can_merge": access.can_merge(item, request.user),
        "rows": results.participant_progress(item) if manager else [],
        "n_cases": item.cases.count(),
        "n_items": item.items.count(),
        "n_questionnaire": access.questionnaire_items(item).count(),
    }
    return render(request, "readerstudy/study.html", context)


@role_required(*ANY_ROLE)
def task(request: HttpRequest, pk: int, task: str) -> HttpResponse:
    """A task page; consensus is for leads and the consensus pair, the others for participants."""
    if task not in TASKS:
        raise Http404("no such task")
    if task == "consensus":
        item = get_object_or_404(access.visible_studies(request.user), pk=pk)
        if not access.can_merge(item, request.user):
            raise PermissionDenied("Only a lead or the study's two consensus participants merge points.")
    else:
        item = get_object_or_404(access.participant_studies(request.user), pk=pk)
    context = {
        "study": item,
        "task": task,
        "api_url": reverse(TASKS[task], kwargs={"study_id": pk}),
        "study_url": reverse("readerstudy:study", args=[pk]),
    }
    return render(request, "readerstudy/task.html", context)


@role_required(*MANAGERS)
def results_page(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ReaderStudy, pk=pk)
    context = {
        "study": item,
        "results": results.study_results(item),
        "mrmc": mrmc_results.mrmc_document(item),
    }
    return render(request, "readerstudy/results.html", context)
