"""Imaging API: studies (list, upload), series, slices and their pixels, import jobs."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_cache_control
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from ichweb import dispatch
from ichweb.imaging import access, ingest, render
from ichweb.imaging.models import ImportJob, Series, Slice
from ichweb.imaging.serializers import (
    ImageQuerySerializer,
    ImportJobSerializer,
    SeriesDetailSerializer,
    SliceSerializer,
    StudySerializer,
    UploadSerializer,
)
from ichweb.lib.uploads import UploadRule


class BinaryRenderer(BaseRenderer):
    """Lets pixel routes answer any Accept header; errors on them are still JSON."""

    media_type = "*/*"
    format = "bin"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return JSONRenderer().render(data) if isinstance(data, dict | list) else data


PIXEL_RENDERERS = [JSONRenderer, BinaryRenderer]

#: Pixels of an imported series never change: browsers may keep them for a day without asking.
PIXEL_CACHE = {"private": True, "max_age": 86400}


def _cached_binary(request: Request, etag: str, content_type: str, produce: Any) -> HttpResponse:
    """Answer 304 when the client holds this version already, else the bytes with ETag and cache headers."""
    quoted = f'"{etag}"'
    if quoted in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(produce(), content_type=content_type)
    response["ETag"] = quoted
    patch_cache_control(response, **PIXEL_CACHE)
    return response


IMPORT_DENIED = "Only team leads and admins import studies."


class StudyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = StudySerializer
    upload_rules = {
        "create": UploadRule(
            allowed=access.can_import,
            denied=IMPORT_DENIED,
            limit_setting="IMPORT_MAX_UPLOAD_BYTES",
            advice="split it or use manage.py import_dicom",
        )
    }

    def get_queryset(self):
        return access.visible_studies(self.request.user).prefetch_related("series")

    def get_parsers(self):
        if getattr(self, "action", None) == "create":
            return [MultiPartParser(), FormParser()]
        return super().get_parsers()

    @extend_schema(request=UploadSerializer, responses={201: ImportJobSerializer, 202: ImportJobSerializer})
    def create(self, request: Request) -> Response:
        """Upload DICOM files, folders (with ``paths``) or zips. Small uploads are imported at once (201);
        larger ones by a worker (202): poll the job's ``url``."""
        # UploadGuardMiddleware checked the role and the declared size before the body was read.
        if not access.can_import(request.user):
            raise PermissionDenied(IMPORT_DENIED)
        upload = UploadSerializer(
            data={"files": request.FILES.getlist("files"), "paths": request.data.getlist("paths")}
            if hasattr(request.data, "getlist")
            else request.data
        )
        upload.is_valid(raise_exception=True)
        files = upload.validated_data["files"]
        paths = upload.validated_data.get("paths") or [f.name for f in files]
        source = ImportJob.Source.BROWSER if request.headers.get("X-Requested-With") else ImportJob.Source.API
        job = ingest.create_upload_job(list(zip(paths, files, strict=True)), user=request.user, source=source)
        if job.n_bytes <= settings.IMPORT_INLINE_MAX_BYTES:
            job = ingest.run_job(str(job.pk))
            return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)
        dispatch.import_upload(str(job.pk))
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ImportJobSerializer
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"  # import jobs are named by UUID

    def get_queryset(self):
        return access.visible_jobs(self.request.user).prefetch_related("studies")


class SeriesViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SeriesDetailSerializer

    def get_queryset(self):
        return Series.objects.filter(study__in=access.visible_studies(self.request.user)).prefetch_related(
            "slices"
        )

    @extend_schema(parameters=[ImageQuerySerializer], responses={(200, "image/png"): bytes})
    @action(detail=True, url_path="thumbnail.png", url_name="thumbnail", renderer_classes=PIXEL_RENDERERS)
    def thumbnail(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The middle slice, small, in the brain window (or ``preset``)."""
        series = self.get_object()
        query = ImageQuerySerializer(data={"size": 128, **request.query_params.dict()})
        query.is_valid(raise_exception=True)
        preset, size = query.validated_data["preset"], query.validated_data["size"]
        middle = series.n_slices // 2
        return _cached_binary(
            request,
            f"{series.series_uid}-{middle}-{preset}-{size}",
            "image/png",
            lambda: render.png_bytes(np.asarray(series.volume()[middle]), preset, size),
        )


class SliceViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SliceSerializer

    def get_queryset(self):
        return Slice.objects.filter(
            series__study__in=access.visible_studies(self.request.user)
        ).select_related("series")

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, url_path="hu", url_name="hu", renderer_classes=PIXEL_RENDERERS)
    def hu(self, request: Request, pk: str | None = None) -> HttpResponse:
        """Raw little-endian int16 Hounsfield units, row-major; shape in ``X-Slice-Shape`` (rows,columns)."""
        item = self.get_object()
        series = item.series
        response = _cached_binary(
            request,
            f"{series.series_uid}-{item.index}-hu",
            "application/octet-stream",
            lambda: render.hu_bytes(item.hu()),
        )
        response["X-Slice-Shape"] = f"{series.rows},{series.columns}"
        response["X-Slice-Dtype"] = "int16-le"
        response["X-Pixel-Spacing"] = f"{series.pixel_spacing_row},{series.pixel_spacing_col}"
        response["Access-Control-Expose-Headers"] = "X-Slice-Shape, X-Slice-Dtype, X-Pixel-Spacing"
        return response

    @extend_schema(
        parameters=[OpenApiParameter("preset", str, enum=render.PRESETS), OpenApiParameter("size", int)],
        responses={(200, "image/png"): bytes},
    )
    @action(detail=True, url_path="image.png", url_name="image", renderer_classes=PIXEL_RENDERERS)
    def image(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The slice rendered on the server in a window preset (``preset``), optionally shrunk (``size``)."""
        query = ImageQuerySerializer(data=request.query_params.dict())
        if not query.is_valid():
            raise ValidationError(query.errors)
        item = self.get_object()
        preset, size = query.validated_data["preset"], query.validated_data.get("size")
        return _cached_binary(
            request,
            f"{item.series.series_uid}-{item.index}-{preset}-{size or 0}",
            "image/png",
            lambda: render.png_bytes(item.hu(), preset, size),
        )


def register(router: Any) -> None:
    router.register("studies", StudyViewSet, basename="study")
    router.register("import-jobs", ImportJobViewSet, basename="importjob")
    router.register("series", SeriesViewSet, basename="series")
    router.register("slices", SliceViewSet, basename="slice")
