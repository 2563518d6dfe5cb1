"""Dashboard data for team leads: one GET route per panel, JSON by default, ``?format=csv`` for its table.

Query parameters: ``model`` (a model version; default the active one), ``cohort`` (see
``ichweb.analytics.services``; default the model's test cohort), ``label`` (IPH ... ANY), ``project``,
``level`` (case or slice), ``min_precision``, ``cohorts`` (comma-separated, for the summary).
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from ichweb.accounts.permissions import HasRole
from ichweb.accounts.roles import Role
from ichweb.analytics import services
from ichweb.errors import ID_REGEX, row_id
from ichweb.labeling.models import Project
from ichweb.lib.tables import TableCSVRenderer
from ichweb.modeling.models import ModelVersion
from ichweb.readerstudy.models import ReaderStudy
from ml.labels import LABELS


def _version(request: Request) -> ModelVersion:
    raw = request.query_params.get("model")
    if raw:
        return get_object_or_404(ModelVersion, pk=row_id(raw, "model", "a model version id"))
    version = ModelVersion.objects.active() or ModelVersion.objects.first()
    if version is None:
        raise ValidationError({"model": ["no model version yet: train one on the Models page"]})
    return version


def _label(request: Request) -> str:
    label = request.query_params.get("label", "ANY")
    if label not in LABELS:
        raise ValidationError({"label": [f"choose one of {', '.join(LABELS)}"]})
    return label


def _cohort(request: Request, version: ModelVersion) -> str:
    return request.query_params.get("cohort") or f"test:{version.pk}"


def _project(request: Request) -> Project:
    raw = request.query_params.get("project", "")
    if not raw:
        project = Project.objects.order_by("-created_at").first()
        if project is None:
            raise ValidationError({"project": ["no labeling project yet"]})
        return project
    return get_object_or_404(Project, pk=row_id(raw, "project", "a labeling project id"))


def _answer(produce: Any) -> Response:
    try:
        return Response(produce())
    except services.AnalyticsError as exc:
        raise ValidationError({exc.field: [str(exc)]}) from None


PARAMS = [
    OpenApiParameter("model", int, description="model version (default: the active one)"),
    OpenApiParameter("cohort", str, description="test:<version>, project:<id> or readerstudy:<id>"),
    OpenApiParameter("label", str, enum=list(LABELS)),
]


class AnalyticsViewSet(viewsets.ViewSet):
    permission_classes = [HasRole.of(Role.LEAD)]
    renderer_classes = [JSONRenderer, TableCSVRenderer, BrowsableAPIRenderer]

    @extend_schema(responses={200: dict})
    @action(detail=False, methods=["get"])
    def options(self, request: Request) -> Response:  # type: ignore[override]  # the API's /options/ action shadows View.options
        """What the dashboards can be filtered by."""
        versions = ModelVersion.objects.all()
        rows = [{"id": v.pk, "name": v.name, "is_active": v.is_active} for v in versions]
        projects = [{"id": p.pk, "name": p.name} for p in Project.objects.order_by("-created_at")]
        studies = [{"id": s.pk, "name": s.name} for s in ReaderStudy.objects.order_by("-created_at")]
        return Response(
            {
                "models": rows,
                "cohorts": services.cohort_choices(),
                "projects": projects,
                "studies": studies,
                "labels": list(LABELS),
                "table": services.cohort_choices(),
            }
        )

    @extend_schema(parameters=PARAMS, responses={200: dict})
    @action(detail=False, methods=["get"])
    def roc(self, request: Request) -> Response:
        """ROC curve, AUC with bootstrap and DeLong 95 % CIs, operating point and reader points."""
        version = _version(request)
        return _answer(lambda: services.roc_panel(version, _cohort(request, version), _label(request)))

    @extend_schema(parameters=[*PARAMS, OpenApiParameter("min_precision", float)], responses={200: dict})
    @action(detail=False, methods=["get"])
    def pr(self, request: Request) -> Response:
        """PR curve, average precision and the fixed-minimum-precision threshold table."""
        version = _version(request)
        try:
            floor = float(request.query_params.get("min_precision", "0.7"))
        except ValueError:
            raise ValidationError({"min_precision": ["must be a number in (0, 1]"]}) from None
        return _answer(lambda: services.pr_panel(version, _cohort(request, version), _label(request), floor))

    @extend_schema(
        parameters=[PARAMS[0], OpenApiParameter("cohorts", str, description="comma-separated cohort keys")],
        responses={200: dict},
    )
    @action(detail=False, methods=["get"])
    def summary(self, request: Request) -> Response:
        """Table-1 style: AUC, sensitivity and specificity with CIs per cohort and label."""
        version = _version(request)
        cohorts = [c for c in request.query_params.get("cohorts", "").split(",") if c] or [
            f"test:{version.pk}"
        ]
        return _answer(lambda: services.summary_table(version, cohorts))

    @extend_schema(
        parameters=[
            OpenApiParameter("project", int),
            OpenApiParameter("label", str, enum=list(LABELS)),
            OpenApiParameter("level", str, enum=["case", "slice"]),
        ],
        responses={200: dict},
    )
    @action(detail=False, methods=["get"])
    def agreement(self, request: Request) -> Response:
        """Pairwise Cohen's kappa, Fleiss' kappa and agreement of a labeling project's readers."""
        project = _project(request)
        level = request.query_params.get("level", "case")
        return _answer(lambda: services.agreement_panel(project, _label(request), level))

    @extend_schema(
        parameters=[OpenApiParameter("study", int), OpenApiParameter("label", str, enum=list(LABELS))],
        responses={200: dict},
    )
    @action(detail=False, methods=["get"])
    def readerstudy(self, request: Request) -> Response:
        """A reader study: reader operating points, agreement, prediction-basis agreement, localisation."""
        study = _study(request)
        if study is None:
            return Response({"note": "no reader study yet", "table": []})
        return _answer(lambda: services.readerstudy_panel(study, _label(request)))

    @extend_schema(parameters=[OpenApiParameter("study", int)], responses={200: dict})
    @action(detail=False, methods=["get"])
    def mrmc(self, request: Request) -> Response:
        """A reader study's aided and unaided reads compared: MRMC ROC analysis, operating points, sizing."""
        study = _study(request)
        if study is None:
            return Response({"note": "no reader study yet", "table": []})
        return _answer(lambda: services.readerstudy_mrmc_panel(study))

    @extend_schema(parameters=[OpenApiParameter("project", int)], responses={200: dict})
    @action(detail=False, methods=["get"])
    def progress(self, request: Request) -> Response:
        """Labeling progress per reader of a project."""
        project = _project(request)
        return _answer(lambda: services.labeling_progress(project))


class CaseContextViewSet(viewsets.ViewSet):
    """The review page's study context of one series (leads only)."""

    permission_classes = [HasRole.of(Role.LEAD)]
    renderer_classes = [JSONRenderer, TableCSVRenderer, BrowsableAPIRenderer]
    lookup_value_regex = ID_REGEX

    @extend_schema(
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH), OpenApiParameter("model", int)],
        responses={200: dict},
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        version = ModelVersion.objects.active()
        if request.query_params.get("model"):
            version = _version(request)
        return _answer(lambda: services.case_context(int(pk), version))


def _study(request: Request) -> ReaderStudy | None:
    raw = request.query_params.get("study", "")
    if raw:
        return get_object_or_404(ReaderStudy, pk=row_id(raw, "study", "a reader study id"))
    return ReaderStudy.objects.order_by("-created_at").first()


def register(router: Any) -> None:
    router.register("analytics/case", CaseContextViewSet, basename="analytics-case")
    router.register("analytics", AnalyticsViewSet, basename="analytics")
