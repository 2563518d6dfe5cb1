from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from ichweb.imaging.models import ImportJob, Series, Slice, Study
from ichweb.imaging.render import PRESETS


class SliceSerializer(serializers.ModelSerializer):
    hu_url = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Slice
        fields = ["id", "index", "instance_number", "position", "z", "hu_url", "image_url"]

    def get_hu_url(self, obj: Slice) -> str:
        return reverse("slice-hu", args=[obj.pk])

    def get_image_url(self, obj: Slice) -> str:
        return reverse("slice-image", args=[obj.pk])


class SeriesSerializer(serializers.ModelSerializer):
    class Meta:
        model = Series
        fields = [
            "id",
            "study",
            "series_uid",
            "number",
            "description",
            "kind",
            "manufacturer",
            "rows",
            "columns",
            "n_slices",
            "pixel_spacing_row",
            "pixel_spacing_col",
            "slice_spacing",
            "slice_thickness",
            "transfer_syntax",
            "warnings",
            "created_at",
        ]


class SeriesDetailSerializer(SeriesSerializer):
    slices = SliceSerializer(many=True, read_only=True)

    class Meta(SeriesSerializer.Meta):
        fields = [*SeriesSerializer.Meta.fields, "slices"]


class StudySerializer(serializers.ModelSerializer):
    series = SeriesSerializer(many=True, read_only=True)
    thumbnail_url = serializers.SerializerMethodField()
    n_slices = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = [
            "id",
            "study_uid",
            "patient_pseudo_id",
            "study_date",
            "description",
            "series",
            "n_slices",
            "thumbnail_url",
            "created_at",
        ]

    def _standard(self, obj: Study) -> Series | None:
        series = list(obj.series.all())
        return next((s for s in series if s.kind == Series.Kind.STANDARD), series[0] if series else None)

    def get_n_slices(self, obj: Study) -> int:
        series = self._standard(obj)
        return series.n_slices if series else 0

    def get_thumbnail_url(self, obj: Study) -> str | None:
        series = self._standard(obj)
        if series is None:
            return None
        return reverse("series-thumbnail", args=[series.pk])


class ImportJobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    studies = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "url",
            "source",
            "status",
            "progress",
            "message",
            "report",
            "studies",
            "n_files",
            "n_bytes",
            "created_at",
            "finished_at",
        ]

    def get_url(self, obj: ImportJob) -> str:
        return reverse("importjob-detail", args=[obj.pk])

    def get_studies(self, obj: ImportJob) -> list[dict[str, Any]]:
        return [{"id": s.pk, "url": reverse("imaging:study", args=[s.pk])} for s in obj.studies.all()]


class UploadSerializer(serializers.Serializer):
    """Multipart: ``files`` (repeated) and optional ``paths`` (each file's relative path, same order)."""

    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)
    paths = serializers.ListField(child=serializers.CharField(max_length=1024), required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        paths = attrs.get("paths") or []
        if paths and len(paths) != len(attrs["files"]):
            raise serializers.ValidationError(
                {"paths": f"{len(paths)} paths for {len(attrs['files'])} files: one path per file, in order"}
            )
        return attrs


class ImageQuerySerializer(serializers.Serializer):
    preset = serializers.ChoiceField(choices=PRESETS, default="brain")
    size = serializers.IntegerField(min_value=16, max_value=2048, required=False)
