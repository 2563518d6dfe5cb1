"""Labeling API. Readers reach only their own reads (blinding is enforced here, not in the page);
leads manage projects, resolve consensus, export and import."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from ichweb import errors
from ichweb.accounts.permissions import HasRole, Managers
from ichweb.accounts.roles import is_manager
from ichweb.errors import ID_REGEX
from ichweb.imaging.models import Study
from ichweb.labeling import exchange, services
from ichweb.labeling.models import Case, ExclusionReason, Project, Read, Subtype
from ichweb.labeling.services import LabelingError
from ichweb.lib.uploads import UploadRule


def _version(data: Any) -> int:
    value = data.get("version") if hasattr(data, "get") else None
    if value is None:
        raise LabelingError("send the read's current version (an integer)", field="version")
    return errors.integer(value, "version")


def _body(request: Request) -> dict[str, Any]:
    return errors.require_mapping(request.data)


def read_url(read: Read) -> str:
    return reverse("labeling:read", args=[read.pk])


def read_detail(read: Read) -> dict[str, Any]:
    """What a reader may see of their read: the images, their own labels and points, nothing of others."""
    series = read.case.series
    queue = list(services.reads_of(read.reader).values_list("pk", "status"))
    mine = [pk for pk, _ in queue]
    position = mine.index(read.pk)
    return {
        "id": read.pk,
        "version": read.version,
        "status": read.status,
        "kind": read.kind,
        "editable": read.status != Read.Status.SUBMITTED,
        "project": {"id": read.case.project_id, "name": read.case.project.name},
        "case": {
            "id": read.case_id,
            "study": read.case.study_id,
            "series": {
                "id": series.pk,
                "rows": series.rows,
                "columns": series.columns,
                "n_slices": series.n_slices,
                "pixel_spacing": [series.pixel_spacing_row, series.pixel_spacing_col],
                "slice_spacing": series.slice_spacing,
            },
        },
        "slices": [
            {"index": s.index, "id": s.pk, "z": s.z, "hu_url": reverse("slice-hu", args=[s.pk])}
            for s in series.slices.all()
        ],
        "labels": {str(i): sorted(c) for i, c in services.labels_of(read).items()},
        "points": [services.point_json(p, p.slice.index) for p in read.points.select_related("slice")],
        "excluded": read.excluded,
        "exclusion_reason": read.exclusion_reason,
        "exclusion_note": read.exclusion_note,
        "last_slice_index": read.last_slice_index,
        "exclusion_reasons": [{"code": c, "label": label} for c, label in ExclusionReason.choices],
        "subtypes": list(Subtype.values),
        "queue": {
            "position": position + 1,
            "total": len(mine),
            "done": sum(status == Read.Status.SUBMITTED for _, status in queue),
            "next_url": reverse("labeling:read", args=[mine[position + 1]])
            if position + 1 < len(mine)
            else None,
            "previous_url": reverse("labeling:read", args=[mine[position - 1]]) if position > 0 else None,
        },
        "adjudication": {"reads": services.adjudication_view(read)}
        if read.kind == Read.Kind.ADJUDICATION
        else None,
    }


class ReadListSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="case.project.name")
    url = serializers.SerializerMethodField()
    api_url = serializers.SerializerMethodField()

    class Meta:
        model = Read
        fields = ["id", "project", "kind", "status", "excluded", "version", "url", "api_url"]

    def get_url(self, obj: Read) -> str:
        return read_url(obj)

    def get_api_url(self, obj: Read) -> str:
        return reverse("read-detail", args=[obj.pk])


# --- request and answer bodies, for the schema (the services check every value themselves) ------------------


class VersionBody(serializers.Serializer):
    version = serializers.IntegerField(min_value=0, help_text="the read's current version (409 when stale)")


class LabelsBody(VersionBody):
    slices = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=Subtype.values)),
        help_text="slice index -> subtype codes ([] = no haemorrhage, null = unlabelled)",
    )
    last_slice_index = serializers.IntegerField(min_value=0, required=False)


class PointBody(VersionBody):
    slice_index = serializers.IntegerField(min_value=0)
    x = serializers.FloatField(help_text="image column, pixels")
    y = serializers.FloatField(help_text="image row, pixels")
    subtype = serializers.ChoiceField(choices=Subtype.values, required=False, allow_null=True)


class ExclusionBody(VersionBody):
    reason = serializers.ChoiceField(choices=ExclusionReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class SecondsBody(serializers.Serializer):
    seconds = serializers.FloatField(
        min_value=0, default=0.0, help_text="reading time since the last beat (at most 60 s)"
    )


class ConsensusBody(serializers.Serializer):
    slices = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=Subtype.values)),
        required=False,
        help_text="slice index -> subtype codes; slices not sent keep the union of the reads",
    )
    exclusion = serializers.ChoiceField(choices=ExclusionReason.choices, required=False, allow_blank=True)


class WrittenAnswer(serializers.Serializer):
    version = serializers.IntegerField()
    point = serializers.DictField(required=False)
    status = serializers.CharField(required=False)
    next_url = serializers.CharField(required=False, allow_null=True)


OBJECT = {200: OpenApiTypes.OBJECT}


class ReadViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """``/api/v1/labeling/reads/``: the caller's own reads only."""

    serializer_class = ReadListSerializer
    parser_classes = [JSONParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Read.objects.none()
        return services.reads_of(self.request.user)

    @extend_schema(responses=OBJECT)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        read = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(read_detail(read))

    @staticmethod
    def _written(result: Any, code: int = 200) -> Response:
        if isinstance(result, tuple):
            point, version = result
            return Response({"point": point, "version": version}, status=code)
        return Response({"version": result}, status=code)

    @extend_schema(request=LabelsBody, responses=WrittenAnswer)
    @action(detail=True, methods=["put"])
    def labels(self, request: Request, pk: str) -> Response:
        data = _body(request)
        slices = data.get("slices")
        if not isinstance(slices, dict):
            raise LabelingError("send slices as {slice index: [subtype codes]}", field="slices")
        last = data.get("last_slice_index")
        return self._written(
            services.set_labels(
                int(pk),
                request.user,
                _version(data),
                slices,
                None if last is None else errors.integer(last, "last_slice_index"),
            )
        )

    @extend_schema(request=PointBody, responses={201: WrittenAnswer})
    @action(detail=True, methods=["post"])
    def points(self, request: Request, pk: str) -> Response:
        data = _body(request)
        return self._written(services.add_point(int(pk), request.user, _version(data), data), code=201)

    @extend_schema(methods=["PATCH"], request=PointBody(partial=True), responses=WrittenAnswer)
    @extend_schema(
        methods=["DELETE"],
        request=None,
        parameters=[OpenApiParameter("version", int, required=True)],
        responses=WrittenAnswer,
    )
    @action(detail=True, methods=["patch", "delete"], url_path=r"points/(?P<point_id>[0-9a-f-]{36})")
    def point(self, request: Request, pk: str, point_id: str) -> Response:
        if request.method == "DELETE":
            version = _version(request.query_params)
            return self._written(services.delete_point(int(pk), request.user, version, point_id))
        data = _body(request)
        return self._written(services.move_point(int(pk), request.user, _version(data), point_id, data))

    @extend_schema(request=ExclusionBody, responses=WrittenAnswer)
    @action(detail=True, methods=["post"])
    def exclude(self, request: Request, pk: str) -> Response:
        data = _body(request)
        reason = data.get("reason")
        if not reason or not isinstance(reason, str):
            raise LabelingError("choose an exclusion reason", field="reason")
        note = data.get("note", "")
        if not isinstance(note, str):
            raise LabelingError("the note must be text", field="note")
        return self._written(services.set_exclusion(int(pk), request.user, _version(data), reason, note))

    @extend_schema(request=VersionBody, responses=WrittenAnswer)
    @action(detail=True, methods=["post"])
    def include(self, request: Request, pk: str) -> Response:
        version = _version(_body(request))
        return self._written(services.set_exclusion(int(pk), request.user, version, None))

    @extend_schema(request=VersionBody, responses=WrittenAnswer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        response = self._written(services.submit(int(pk), request.user, _version(_body(request))))
        read = Read.objects.get(pk=pk)
        detail = read_detail(read)
        response.data.update({"status": read.status, "next_url": detail["queue"]["next_url"]})
        return response

    @extend_schema(request=SecondsBody, responses={204: None})
    @action(detail=True, methods=["post"])
    def heartbeat(self, request: Request, pk: str) -> Response:
        form = SecondsBody(data=_body(request))
        form.is_valid(raise_exception=True)  # a finite number >= 0 (DRF's FloatField refuses nan and inf)
        services.add_reading_time(int(pk), request.user, form.validated_data["seconds"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectSerializer(serializers.ModelSerializer):
    studies = serializers.PrimaryKeyRelatedField(queryset=Study.objects.all(), many=True, write_only=True)
    readers = serializers.SlugRelatedField(
        slug_field="username", many=True, queryset=get_user_model().objects.all()
    )
    adjudicators = serializers.SlugRelatedField(
        slug_field="username", many=True, queryset=get_user_model().objects.all(), required=False
    )
    n_cases = serializers.IntegerField(source="cases.count", read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "mode",
            "readers_per_case",
            "discordance",
            "show_reader_identities",
            "studies",
            "readers",
            "adjudicators",
            "n_cases",
            "created_at",
        ]

    def create(self, validated: dict[str, Any]) -> Project:
        try:
            return services.create_project(
                lead=self.context["request"].user,
                name=validated["name"],
                studies=validated.pop("studies"),
                readers=list(validated["readers"]),
                mode=validated.get("mode", Project.Mode.CONSENSUS),
                readers_per_case=validated.get("readers_per_case", 2),
                adjudicators=validated.get("adjudicators", []),
                discordance=validated.get("discordance", Project.Discordance.CASE_SUBTYPE),
                show_reader_identities=validated.get("show_reader_identities", False),
                description=validated.get("description", ""),
            )
        except LabelingError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from exc


class ProjectViewSet(
    mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """``/api/v1/labeling/projects/``: team leads only."""

    serializer_class = ProjectSerializer
    permission_classes = [Managers]
    queryset = Project.objects.prefetch_related("readers", "adjudicators")
    # Checked by UploadGuardMiddleware before the CSV is read.
    upload_rules = {
        "import_ground_truth": UploadRule(
            allowed=is_manager,
            denied=HasRole.message,
            limit_setting="IMPORT_MAX_UPLOAD_BYTES",
            advice="split the CSV into several imports",
        )
    }

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, url_path="export.csv")
    def export_csv(self, request: Request, pk: str) -> HttpResponse:
        response = HttpResponse(exchange.rsna_csv(self.get_object()), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="project-{pk}-labels.csv"'
        return response

    @extend_schema(responses=OBJECT)
    @action(detail=True, url_path="export.json")
    def export_json(self, request: Request, pk: str) -> Response:
        return Response(exchange.project_json(self.get_object()))

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        responses=OBJECT,
    )
    @action(detail=True, methods=["post"], url_path="import-ground-truth", parser_classes=[MultiPartParser])
    def import_ground_truth(self, request: Request, pk: str) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise LabelingError("attach the RSNA-format CSV as 'file'", field="file")
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LabelingError(f"{upload.name} is not UTF-8 text: save it as UTF-8", field="file") from None
        return Response(exchange.import_rsna_csv(self.get_object(), text, request.user))

    @extend_schema(methods=["GET"], responses=OBJECT)
    @extend_schema(methods=["POST"], request=ConsensusBody, responses=OBJECT)
    @action(detail=True, methods=["get", "post"], url_path=rf"cases/(?P<case_id>{ID_REGEX})/consensus")
    def consensus(self, request: Request, pk: str, case_id: str) -> Response:
        project = self.get_object()
        case = get_object_or_404(Case, pk=case_id, project=project)
        if request.method == "POST":
            data = _body(request)
            slices = data.get("slices", {})
            if not isinstance(slices, dict):
                raise LabelingError("send slices as {slice index: [subtype codes]}", field="slices")
            exclusion = data.get("exclusion", "")
            if not isinstance(exclusion, str):
                raise LabelingError("exclusion must be a reason code or empty", field="exclusion")
            with transaction.atomic():
                truth = services.record_consensus(case, request.user, slices, exclusion)
            return Response({"ground_truth": truth.method, "case_status": Case.Status.DONE})
        return Response(consensus_view(case))


def consensus_view(case: Case) -> dict[str, Any]:
    reads = list(case.reads.filter(kind=Read.Kind.PRIMARY).select_related("reader"))
    summaries = [services.summarize(r) for r in reads if r.status == Read.Status.SUBMITTED]
    identities = case.project.show_reader_identities
    return {
        "case": case.pk,
        "status": case.status,
        "discordant_slices": services.discordant_slices(summaries, case.series.n_slices),
        "reads": [
            {
                "reader": s.read.reader.get_username() if identities else f"Reader {'ABCDEFGH'[i]}",
                "excluded": s.read.excluded,
                "exclusion_reason": s.read.exclusion_reason,
                "labels": {str(k): sorted(v) for k, v in s.labels.items()},
            }
            for i, s in enumerate(summaries)
        ],
    }


def register(router: Any) -> None:
    router.register("labeling/reads", ReadViewSet, basename="read")
    router.register("labeling/projects", ProjectViewSet, basename="labelingproject")
