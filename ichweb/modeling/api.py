"""Modeling API: training runs (start, progress, cancel), model versions (activate), inference jobs, review.

Leads and admins manage; the review route and the map images answer only users who may see that series'
model output (``ichweb.modeling.access``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ichweb.accounts.permissions import HasRole, Managers
from ichweb.accounts.roles import MANAGERS, Role
from ichweb.errors import MAX_ID, row_id
from ichweb.imaging.api import PIXEL_RENDERERS, _cached_binary
from ichweb.imaging.models import Series
from ichweb.modeling import access, inference, training
from ichweb.modeling.datasets import DatasetError
from ichweb.modeling.models import AttentionMap, InferenceJob, ModelVersion, TrainingRun
from ichweb.modeling.review import review_document
from ml.recipes import RECIPES


class TrainingRunSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "name",
            "recipe",
            "overrides",
            "status",
            "progress",
            "error",
            "counts",
            "snapshot_sha256",
            "model_version",
            "created_at",
            "started_at",
            "finished_at",
            "url",
        ]

    def get_counts(self, run: TrainingRun) -> dict[str, int]:
        return run.counts()

    def get_model_version(self, run: TrainingRun) -> int | None:
        version = getattr(run, "model_version", None)
        return version.pk if version is not None else None

    def get_url(self, run: TrainingRun) -> str:
        return reverse("modeling:run", args=[run.pk])


class StartRunSerializer(serializers.Serializer):
    recipe = serializers.ChoiceField(choices=sorted(RECIPES), default="lite")
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    projects = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False
    )
    val_fraction = serializers.FloatField(min_value=0.05, max_value=0.5, default=0.2)
    test_fraction = serializers.FloatField(min_value=0.0, max_value=0.5, default=0.2)
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, default=0)
    max_epochs = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    max_steps_per_epoch = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    allow_random_init = serializers.BooleanField(required=False)
    activate_when_done = serializers.BooleanField(default=True)
    predict_all_when_done = serializers.BooleanField(default=False)


def start_run_from(data: dict[str, Any], user) -> TrainingRun:
    """Start a run from validated ``StartRunSerializer`` data; errors become field errors."""
    overrides = {k: data.get(k) for k in ("max_epochs", "max_steps_per_epoch")}
    if data.get("allow_random_init"):
        overrides["allow_random_init"] = True
    try:
        return training.start_run(
            user=user,
            recipe=data["recipe"],
            project_ids=data.get("projects") or None,
            val_fraction=data["val_fraction"],
            test_fraction=data["test_fraction"],
            seed=data["seed"],
            overrides=overrides,
            name=data.get("name", ""),
            activate_when_done=data["activate_when_done"],
            predict_all_when_done=data["predict_all_when_done"],
        )
    except (DatasetError, training.TrainingError) as exc:
        raise ValidationError({exc.field: [str(exc)]}) from None


class TrainingRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = TrainingRunSerializer
    permission_classes = [Managers]
    queryset = TrainingRun.objects.select_related("model_version").defer("snapshot")

    @extend_schema(request=StartRunSerializer, responses={201: TrainingRunSerializer})
    def create(self, request: Request) -> Response:
        """Freeze the ground truth into a dataset snapshot and queue the run on the gpu queue."""
        form = StartRunSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        run = start_run_from(form.validated_data, request.user)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = training.cancel_run(self.get_object())
        return Response(TrainingRunSerializer(run).data)


class ModelVersionSerializer(serializers.ModelSerializer):
    run: serializers.PrimaryKeyRelatedField[TrainingRun] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    atlas_size = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "run",
            "recipe",
            "archs",
            "label_order",
            "thresholds",
            "metrics",
            "artifacts",
            "explain_arch",
            "atlas_size",
            "is_active",
            "created_at",
        ]

    def get_atlas_size(self, version: ModelVersion) -> int:
        return version.atlas_entries.count()


class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ModelVersionSerializer
    permission_classes = [Managers]
    queryset = ModelVersion.objects.all()

    @extend_schema(request=None, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        """Make this the active model: new series get its predictions."""
        version = training.activate(self.get_object())
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(request=None, responses={202: dict})
    @action(detail=True, methods=["post"], url_path="predict-all")
    def predict_all(self, request: Request, pk: str) -> Response:
        """Queue this model on every standard series it has not predicted yet."""
        queued = inference.predict_all(self.get_object(), user=request.user)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class InferenceJobSerializer(serializers.ModelSerializer):
    study = serializers.IntegerField(source="series.study_id", read_only=True)
    review_url = serializers.SerializerMethodField()

    class Meta:
        model = InferenceJob
        fields = [
            "id",
            "series",
            "study",
            "model_version",
            "status",
            "progress",
            "message",
            "error",
            "case_probabilities",
            "positive",
            "thresholds",
            "timings",
            "created_at",
            "started_at",
            "finished_at",
            "review_url",
        ]
        read_only_fields = fields

    def get_review_url(self, job: InferenceJob) -> str:
        return reverse("modeling:review", args=[job.series_id])


class RequestInferenceSerializer(serializers.Serializer):
    series = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    model_version = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class InferenceJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = InferenceJobSerializer

    def get_queryset(self):
        jobs = InferenceJob.objects.filter(series__in=access.reviewable_series(self.request.user))
        series = self.request.query_params.get("series")
        if series:
            jobs = jobs.filter(series_id=row_id(series, "series", "a series id"))
        return jobs.select_related("series")

    @extend_schema(request=RequestInferenceSerializer, responses={202: InferenceJobSerializer})
    def create(self, request: Request) -> Response:
        """Run a model (default: the active one) on a series now; replaces that model's earlier results."""
        if not access.can_manage(request.user):
            raise PermissionDenied("Only team leads and admins request inference.")
        form = RequestInferenceSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        series = Series.objects.filter(pk=form.validated_data["series"]).first()
        if series is None:
            raise ValidationError({"series": ["no such series"]})
        version = None
        if "model_version" in form.validated_data:
            version = ModelVersion.objects.filter(pk=form.validated_data["model_version"]).first()
            if version is None:
                raise ValidationError({"model_version": ["no such model version"]})
        job = inference.request_inference(series, version, user=request.user)
        if job is None:
            raise ValidationError({"model_version": ["no model is active: train one or activate a version"]})
        return Response(InferenceJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ReviewQuerySerializer(serializers.Serializer):
    model = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="model version (default: the active one)"
    )


class ReviewViewSet(viewsets.GenericViewSet):
    """The review document of a series: predictions, thresholds, maps and prediction basis."""

    queryset = Series.objects.none()

    @extend_schema(parameters=[ReviewQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request: Request, pk: str) -> Response:
        query = ReviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        series = get_object_or_404(access.reviewable_series(request.user), pk=pk)
        return Response(review_document(series, request.user, query.validated_data.get("model")))


def _png(request: Request, path: Path, etag: str) -> HttpResponse:
    if not path.is_file():
        raise Http404("image file missing; re-run the inference job")
    return _cached_binary(request, etag, "image/png", path.read_bytes)


class AttentionMapViewSet(viewsets.GenericViewSet):
    renderer_classes = PIXEL_RENDERERS

    def get_queryset(self):
        return AttentionMap.objects.filter(job__series__in=access.reviewable_series(self.request.user))

    @extend_schema(responses={(200, "image/png"): bytes})
    @action(detail=True, methods=["get"], url_path="map.png", url_name="map")
    def map_png(self, request: Request, pk: str) -> HttpResponse:
        """The raw map (8-bit grey, slice size; 255 = the map's maximum)."""
        amap = self.get_object()
        return _png(request, amap.path, f"map-{amap.pk}-{amap.job.attempt}")

    @extend_schema(responses={(200, "image/png"): bytes})
    @action(detail=True, methods=["get"], url_path="overlay.png", url_name="overlay")
    def overlay_png(self, request: Request, pk: str) -> HttpResponse:
        """The map in a perceptual colour map with alpha growing with the map (to lay over the slice)."""
        amap = self.get_object()
        return _png(request, amap.overlay_path, f"ov-{amap.pk}-{amap.job.attempt}")


class AtlasEntryViewSet(viewsets.GenericViewSet):
    """Atlas exemplars (patches of de-identified training slices): for those who may review predictions."""

    renderer_classes = PIXEL_RENDERERS
    permission_classes = [HasRole.of(*MANAGERS, Role.LABELER)]

    def get_queryset(self):
        return access.visible_exemplars(self.request.user).select_related("model_version")

    def _image(self, request: Request, kind: str) -> HttpResponse:
        entry = self.get_object()
        return _png(request, entry.image_path(kind), f"atlas-{entry.pk}-{kind}")

    @extend_schema(responses={(200, "image/png"): bytes})
    @action(detail=True, methods=["get"], url_path="patch.png", url_name="patch")
    def patch_png(self, request: Request, pk: str) -> HttpResponse:
        return self._image(request, "patch")

    @extend_schema(responses={(200, "image/png"): bytes})
    @action(detail=True, methods=["get"], url_path="map.png", url_name="map")
    def map_png(self, request: Request, pk: str) -> HttpResponse:
        return self._image(request, "map")


def register(router: Any) -> None:
    router.register("modeling/runs", TrainingRunViewSet, basename="trainingrun")
    router.register("modeling/models", ModelVersionViewSet, basename="modelversion")
    router.register("modeling/jobs", InferenceJobViewSet, basename="inferencejob")
    router.register("modeling/review", ReviewViewSet, basename="review")
    router.register("modeling/maps", AttentionMapViewSet, basename="attentionmap")
    router.register("modeling/atlas", AtlasEntryViewSet, basename="atlasentry")
