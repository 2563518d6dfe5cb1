"""Input validation of the reader-study API and the lead's form (one set of rules for both doors)."""

from __future__ import annotations

from typing import Any, cast

from rest_framework import serializers

from ichweb.labeling.models import Project, Subtype
from ichweb.modeling.models import ModelVersion
from ichweb.readerstudy import services
from ichweb.readerstudy.models import CohortKind, Design, MaterialLabel, Modality
from ml.labels import ANY


def _usernames(**kwargs: Any) -> serializers.ManyRelatedField:
    """Users with the reader role, by username."""
    # many=True makes the constructor return a ManyRelatedField (RelatedField.__new__); the stubs miss it.
    return cast(
        serializers.ManyRelatedField,
        serializers.SlugRelatedField(slug_field="username", queryset=services.readers(), many=True, **kwargs),
    )


class StudyCreateSerializer(serializers.Serializer):
    """A new study. The cohort is ``cases`` (labeling case ids) or, without them, every case of ``project``
    with usable ground truth; ``model_version`` defaults to the active model."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    cohort_name = serializers.CharField(max_length=200)
    cohort_kind = serializers.ChoiceField(choices=CohortKind.choices, default=CohortKind.RETROSPECTIVE)
    project = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.all(), required=False, allow_null=True
    )
    cases = serializers.PrimaryKeyRelatedField(queryset=services.eligible_cases(), many=True, required=False)
    participants = _usernames(allow_empty=False)
    consensus = _usernames(required=False, default=list)
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False, allow_null=True
    )
    material_label = serializers.ChoiceField(choices=MaterialLabel.choices, default=MaterialLabel(ANY))
    slices_per_case = serializers.IntegerField(min_value=1, max_value=20, default=1)
    answers_changeable = serializers.BooleanField(default=False)
    merge_radius_px = serializers.FloatField(min_value=0.0, max_value=200.0, default=10.0)
    design = serializers.ChoiceField(
        choices=Design.choices,
        default=Design.UNAIDED,
        help_text="unaided; sequential (each case unaided, then aided); crossover (two sessions)",
    )
    washout_days = serializers.IntegerField(
        min_value=0, max_value=services.MAX_WASHOUT_DAYS, default=28, help_text="crossover only"
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            data["cases"] = services.cohort_cases(data.pop("project", None), data.get("cases") or [])
        except services.ReaderStudyError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        if "model_version" not in data:
            data["model_version"] = ModelVersion.objects.active()
        if data["consensus"] and len(data["consensus"]) != 2:
            raise serializers.ValidationError({"consensus": ["choose exactly two participants, or none"]})
        return data


class StudyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    answers_changeable = serializers.BooleanField(required=False)
    participants = _usernames(allow_empty=False, required=False)


class ReadSerializer(serializers.Serializer):
    ich = serializers.BooleanField()
    subtypes = serializers.ListField(
        child=serializers.ChoiceField(choices=Subtype.choices), required=False, default=list
    )
    confidence = serializers.IntegerField(min_value=0, max_value=100)


class HeartbeatSerializer(serializers.Serializer):
    """``seconds`` of reading since the last beat, as the client measured them (the server bounds them)."""

    seconds = serializers.FloatField(min_value=0.0)


class PointsSerializer(serializers.Serializer):
    """``points``: ``[[x, y], ...]`` in slice pixels, checked against the slice by ``clean_points``."""

    points = serializers.JSONField()


class ChoiceSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=list(services.LETTERS))


# --- response shapes (for the OpenAPI schema; the documents are built by the views) -----------------------


class StudyRowSerializer(serializers.Serializer):
    """A study as a participant sees it; leads also get its set-up (participants, cases, material)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    cohort_name = serializers.CharField()
    cohort_kind = serializers.ChoiceField(choices=CohortKind.choices)
    answers_changeable = serializers.BooleanField()
    urls = serializers.DictField(child=serializers.CharField())
    progress = serializers.DictField(
        allow_null=True, help_text="reads, localisation, questionnaire, finished"
    )


class TaskRowSerializer(serializers.Serializer):
    """A row of a task list, in the participant's order."""

    id = serializers.IntegerField()
    number = serializers.IntegerField(help_text="1-based position in this participant's order")
    submitted = serializers.BooleanField(required=False)
    has_reference = serializers.BooleanField(required=False, help_text="consensus only")
    url = serializers.CharField()
    modality = serializers.ChoiceField(
        choices=Modality.choices, required=False, help_text="case reads: the arm the row leads to"
    )
    session = serializers.IntegerField(required=False, help_text="case reads: 1, or 2 (crossover)")
