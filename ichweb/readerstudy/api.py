"""Reader-study API: studies (leads create and manage them, participants see their own), results.

The participant's task routes live in ``ichweb.readerstudy.participant_api`` (and the aided arm in
``aided_api``); ``register`` mounts them all. Errors of the rules come back as 400 with the field named
(``ReaderStudyError``) or 409 for a state that refuses the request (``Conflict``: a task not open yet, a
locked answer, material already in use).

The comparison of the modalities (``mrmc_results``) is for leads: ``{id}/mrmc/`` (every panel),
``{id}/mrmc/{panel}/`` (one panel; ``?format=csv`` its table) and ``{id}/readings.csv`` (the long table,
for ``python -m ml.mrmc``, iMRMC, RJafroc or MRMCaov).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import Count
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from ichweb.accounts.permissions import Managers
from ichweb.accounts.roles import is_manager
from ichweb.errors import ID_REGEX
from ichweb.lib.tables import TableCSVRenderer
from ichweb.readerstudy import access, material, mrmc_results, results, services
from ichweb.readerstudy.models import ReaderStudy
from ichweb.readerstudy.serializers import StudyCreateSerializer, StudyRowSerializer, StudyUpdateSerializer

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def task_urls(study: ReaderStudy) -> dict[str, str]:
    """The participant's pages and API lists of a study."""
    kwargs = {"study_id": study.pk}
    return {
        "page": reverse("readerstudy:study", args=[study.pk]),
        "cases": reverse("readerstudy-case-list", kwargs=kwargs),
        "localisation": reverse("readerstudy-localisation-list", kwargs=kwargs),
        "questionnaire": reverse("readerstudy-questionnaire-list", kwargs=kwargs),
    }


class _StudyCounts(TypedDict):
    """The counts ``ReaderStudyViewSet.get_queryset`` annotates on each study."""

    n_cases: int
    n_items: int


def study_document(study: WithAnnotations[ReaderStudy, _StudyCounts], user) -> dict[str, Any]:
    """What ``user`` may see of a study: a participant their progress, a lead the set-up too.

    ``study`` comes from ``ReaderStudyViewSet.get_queryset`` (counts annotated, people prefetched).
    """
    doc: dict[str, Any] = {
        "id": study.pk,
        "name": study.name,
        "description": study.description,
        "cohort_name": study.cohort_name,
        "cohort_kind": study.cohort_kind,
        "answers_changeable": study.answers_changeable,
        "design": study.design,
        "washout_days": study.washout_days,
        "urls": task_urls(study),
        "progress": None,
    }
    people = sorted(u.get_username() for u in study.participants.all())
    if user.get_username() in people:
        doc["progress"] = access.progress(study, user).to_dict()
    if is_manager(user):
        pair = access.consensus_pair(study)
        doc.update(
            participants=people,
            consensus=[u.get_username() for u in pair] if pair else [],
            n_cases=study.n_cases,
            n_items=study.n_items,
            model_version=study.model_version_id,
            material_label=study.material_label,
            slices_per_case=study.slices_per_case,
            merge_radius_px=study.merge_radius_px,
            created_at=study.created_at,
            results_url=reverse("readerstudy-results", args=[study.pk]),
            mrmc_url=reverse("readerstudy-mrmc", args=[study.pk]),
            readings_url=reverse("readerstudy-readings", args=[study.pk]),
        )
    return doc


class ReaderStudyViewSet(viewsets.GenericViewSet):
    """``/api/v1/reader-studies/``: a participant's studies, or every study for leads and admins."""

    queryset = ReaderStudy.objects.none()
    lookup_value_regex = ID_REGEX
    manager_actions = frozenset(
        {"create", "partial_update", "material", "results", "mrmc", "mrmc_panel", "readings"}
    )
    csv_name = "table"

    def get_permissions(self):
        if self.action in self.manager_actions:
            return [Managers()]
        return super().get_permissions()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ReaderStudy.objects.none()
        return (
            access.visible_studies(self.request.user)
            .select_related("consensus_first", "consensus_second")
            .prefetch_related("participants")
            .annotate(n_cases=Count("cases", distinct=True), n_items=Count("items", distinct=True))
            .order_by("-created_at", "-pk")
        )

    @extend_schema(responses=StudyRowSerializer(many=True))
    def list(self, request: Request, format: str | None = None) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None  # DEFAULT_PAGINATION_CLASS and PAGE_SIZE are set: there is always a page
        return self.get_paginated_response([study_document(s, request.user) for s in page])

    @extend_schema(responses=StudyRowSerializer)
    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        return Response(study_document(self.get_object(), request.user))

    @extend_schema(request=StudyCreateSerializer, responses={201: OpenApiTypes.OBJECT})
    def create(self, request: Request, format: str | None = None) -> Response:
        """Create a study from labeling cases with ground truth; its material is prepared at once."""
        form = StudyCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        created, report = services.create_study(lead=request.user, **form.validated_data)
        study = self.get_queryset().get(pk=created.pk)
        body = {**study_document(study, request.user), "material": report.to_dict()}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=StudyUpdateSerializer, responses={200: OpenApiTypes.OBJECT})
    def partial_update(self, request: Request, pk: str, format: str | None = None) -> Response:
        """Rename, lock or unlock answers, change participants."""
        form = StudyUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.update_study(self.get_object(), dict(form.validated_data))
        return Response(study_document(self.get_queryset().get(pk=pk), request.user))

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def material(self, request: Request, pk: str, format: str | None = None) -> Response:
        """Rebuild the localisation slices from the model's current results (before anyone marked points)."""
        return Response(material.prepare_material(self.get_object()).to_dict())

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str, format: str | None = None) -> Response:
        """``ichweb.readerstudy.results.study_results``."""
        return Response(results.study_results(self.get_object()))

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def mrmc(self, request: Request, pk: str, format: str | None = None) -> Response:
        """Aided against unaided reads: every panel of ``ichweb.readerstudy.mrmc_results``."""
        return Response(mrmc_results.mrmc_document(self.get_object()))

    @extend_schema(
        operation_id="v1_reader_studies_mrmc_panel_retrieve",
        parameters=[OpenApiParameter("panel", str, OpenApiParameter.PATH, enum=[*mrmc_results.PANELS])],
        responses={200: OpenApiTypes.OBJECT, (200, "text/csv"): str},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"mrmc/(?P<panel>[a-z_]+)",
        url_name="mrmc-panel",
        renderer_classes=[JSONRenderer, TableCSVRenderer],
    )
    def mrmc_panel(self, request: Request, pk: str, panel: str, format: str | None = None) -> Response:
        """One panel of the comparison: JSON, or with ``?format=csv`` its table."""
        if panel not in mrmc_results.PANELS:
            raise Http404(f"no panel {panel!r}: the panels are {', '.join(mrmc_results.PANELS)}")
        self.csv_name = panel
        return Response(mrmc_results.mrmc_document(self.get_object())["panels"][panel])

    @extend_schema(responses={(200, "text/csv"): str, 200: OpenApiTypes.OBJECT})
    @action(
        detail=True,
        methods=["get"],
        url_path="readings.csv",
        url_name="readings",
        renderer_classes=[TableCSVRenderer, JSONRenderer],
    )
    def readings(self, request: Request, pk: str, format: str | None = None) -> Response:
        """The long table ``reader, treatment, case, truth, rating`` of every submitted read, as CSV."""
        self.csv_name = "readings"
        rows = [r.record() for r in mrmc_results.study_readings(self.get_object())]
        return Response({"columns": [*mrmc_results.COLUMNS], "table": rows})


def register(router: Any) -> None:
    from ichweb.readerstudy import participant_api

    router.register("reader-studies", ReaderStudyViewSet, basename="readerstudy")
    participant_api.register(router)
