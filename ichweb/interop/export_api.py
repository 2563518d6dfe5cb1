"""DICOM exports over the API: downloads, the destinations a lead may send to, and send jobs.

Downloads are for the roles that may use DICOMweb (leads, admins, service accounts with a token): an export
carries ground truth or model output, which labelers and reader-study participants must not see (blinding),
so they get 403. Send jobs and destinations are for leads and admins (docs/interop.md, "Export").
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from ichweb import dispatch
from ichweb.accounts.permissions import HasRole, Managers
from ichweb.imaging.models import Series
from ichweb.interop import export
from ichweb.interop.access import DICOMWEB_ROLES
from ichweb.interop.models import ExportDestination, SendJob
from ichweb.interop.views import BearerTokenAuthentication
from ichweb.labeling.models import GroundTruth
from ichweb.modeling.models import InferenceJob, Stage

#: A download's answers: the PS3.10 file, or why not (409: nothing to export yet).
DICOM_FILE = {(200, "application/dicom"): bytes, 409: OpenApiTypes.OBJECT}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for DICOMweb tokens (``Authorization: Bearer <token>``), used by the downloads."""

    target_class = "ichweb.interop.views.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}


class Exporters(HasRole.of(*DICOMWEB_ROLES)):  # type: ignore[misc]  # a class made by HasRole.of
    message = (
        "DICOM exports carry ground truth and model output: they are for team leads, admins and service "
        "accounts; your role does not include them."
    )


def _download(kind: str, object_id: str) -> HttpResponse:
    try:
        built = export.build(kind, int(object_id))
    except (Series.DoesNotExist, InferenceJob.DoesNotExist):
        raise NotFound(f"{export.KINDS[kind]} {object_id} does not exist") from None
    except export.NotExportable as error:
        return HttpResponse(
            f'{{"detail": {_json_str(str(error))}}}', status=409, content_type="application/json"
        )
    response = HttpResponse(built.data, content_type="application/dicom")
    response["Content-Disposition"] = f'attachment; filename="{built.filename}"'
    return response


def _json_str(text: str) -> str:
    import json

    return json.dumps(text)


class _ExportViewSet(viewsets.ViewSet):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [Exporters]


class SeriesExportViewSet(_ExportViewSet):
    """``GET .../series/{id}/ground-truth.dcm``: the series' ground truth as a Comprehensive 3D SR."""

    @extend_schema(responses=DICOM_FILE)
    @action(detail=True, methods=["get"], url_path="ground-truth.dcm", url_name="ground-truth")
    def ground_truth(self, request: Request, pk: str) -> HttpResponse:
        return _download(export.GROUND_TRUTH, pk)


class JobExportViewSet(_ExportViewSet):
    """``GET .../jobs/{id}/findings.dcm`` (SR) and ``.../jobs/{id}/seg.dcm`` (SEG) of an inference job."""

    @extend_schema(responses=DICOM_FILE)
    @action(detail=True, methods=["get"], url_path="findings.dcm", url_name="findings")
    def findings(self, request: Request, pk: str) -> HttpResponse:
        return _download(export.FINDINGS, pk)

    @extend_schema(responses=DICOM_FILE)
    @action(detail=True, methods=["get"], url_path="seg.dcm", url_name="seg")
    def seg(self, request: Request, pk: str) -> HttpResponse:
        return _download(export.SEG, pk)


class DestinationSerializer(serializers.ModelSerializer[ExportDestination]):
    """A destination without its token (a secret)."""

    #: Empty for a C-STORE destination, so not documented as a URI.
    url = serializers.CharField(read_only=True, help_text="stow: the STOW-RS studies URL (empty for cstore).")

    class Meta:
        model = ExportDestination
        fields = ["id", "name", "kind", "url", "host", "port", "called_ae", "calling_ae", "enabled"]
        read_only_fields = fields


class DestinationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The configured destinations (made in the admin site), for a lead to choose one."""

    serializer_class = DestinationSerializer
    permission_classes = [Managers]
    queryset = ExportDestination.objects.all()


def _missing_source(what: str, object_id: int) -> str | None:
    """Why export ``what`` of ``object_id`` cannot be made (a cheap check before queueing), or None."""
    if what == SendJob.What.GROUND_TRUTH:
        if not Series.objects.filter(pk=object_id).exists():
            return f"series {object_id} does not exist"
        if not GroundTruth.objects.filter(case__series_id=object_id).exists():
            return f"series {object_id} has no ground truth: record it first"
        return None
    job = InferenceJob.objects.filter(pk=object_id).first()
    if job is None:
        return f"inference job {object_id} does not exist"
    if job.status != Stage.SUCCEEDED:
        return f"inference job {object_id} has not succeeded (status {job.status}): wait until it does"
    if what == SendJob.What.FINDINGS and not job.case_probabilities:
        return f"inference job {object_id} has no findings yet (status {job.status}): wait until it succeeds"
    if what == SendJob.What.SEG and not job.attention_maps.exists():
        return f"inference job {object_id} has no attention maps (status {job.status})"
    return None


class SendJobSerializer(serializers.ModelSerializer[SendJob]):
    destination = serializers.PrimaryKeyRelatedField(queryset=ExportDestination.objects.filter(enabled=True))

    class Meta:
        model = SendJob
        fields = [
            "id",
            "what",
            "object_id",
            "destination",
            "status",
            "attempts",
            "last_error",
            "sop_instance_uid",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = [
            "status",
            "attempts",
            "last_error",
            "sop_instance_uid",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        problem = _missing_source(attrs["what"], attrs["object_id"])
        if problem:
            raise serializers.ValidationError({"object_id": [problem]})
        return attrs


class SendJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Send jobs, newest first. POST ``{"what": "seg", "object_id": 12, "destination": 1}`` queues one."""

    serializer_class = SendJobSerializer
    permission_classes = [Managers]
    queryset = SendJob.objects.select_related("destination")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            job = serializer.save(requested_by=request.user)
            dispatch.send_export(job)
        return Response(self.get_serializer(job).data, status=201)


def register(router: Any) -> None:
    router.register("interop/export/series", SeriesExportViewSet, basename="export-series")
    router.register("interop/export/jobs", JobExportViewSet, basename="export-job")
    router.register("interop/destinations", DestinationViewSet, basename="exportdestination")
    router.register("interop/send-jobs", SendJobViewSet, basename="sendjob")
