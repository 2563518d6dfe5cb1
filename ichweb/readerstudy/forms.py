"""The lead's form for a new reader study (the rules are ``services.create_study``'s, as for the API)."""

from __future__ import annotations

from typing import Any

from django import forms

from ichweb.labeling.models import Case as LabelingCase
from ichweb.labeling.models import Project
from ichweb.modeling.models import ModelVersion
from ichweb.readerstudy import services
from ichweb.readerstudy.models import CohortKind, Design, MaterialLabel
from ml.labels import ANY


def _model_field(form: forms.BaseForm, name: str) -> forms.ModelChoiceField[Any]:
    """The model-choice field ``name`` of ``form`` (its per-instance copy in ``form.fields``)."""
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField)  # declared as one on the form class
    return field


class CaseChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: LabelingCase) -> str:
        return f"{obj.project.name} · case {obj.pk} (study {obj.study_id})"


class StudyForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    cohort_name = forms.CharField(max_length=200, help_text="e.g. 'Retrospective test set'.")
    cohort_kind = forms.ChoiceField(choices=CohortKind.choices)
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        required=False,
        help_text="Take every case of this project with ground truth, or choose cases below.",
    )
    cases = CaseChoices(
        queryset=LabelingCase.objects.none(), widget=forms.CheckboxSelectMultiple, required=False
    )
    participants = forms.ModelMultipleChoiceField(
        queryset=services.readers(), widget=forms.CheckboxSelectMultiple
    )
    consensus = forms.ModelMultipleChoiceField(
        queryset=services.readers(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The two participants whose bleeding points are merged into the reference points.",
    )
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.all(),
        required=False,
        help_text="Its attention maps and prediction basis are the localisation and questionnaire material.",
    )
    material_label = forms.ChoiceField(choices=MaterialLabel.choices, initial=MaterialLabel(ANY))
    slices_per_case = forms.IntegerField(min_value=1, max_value=20, initial=1)
    answers_changeable = forms.BooleanField(
        required=False, help_text="Participants may change a submitted answer (default: locked)."
    )
    merge_radius_px = forms.FloatField(
        min_value=0, max_value=200, initial=10, help_text="Consensus: points closer than this are merged."
    )
    design = forms.ChoiceField(
        choices=Design.choices,
        initial=Design.UNAIDED,
        required=False,
        help_text="Aided reads show the model version's output on the case; an aided design needs one.",
    )
    washout_days = forms.IntegerField(
        min_value=0,
        max_value=services.MAX_WASHOUT_DAYS,
        initial=28,
        required=False,
        help_text="Crossover: days between finishing session 1 and opening session 2.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _model_field(self, "project").queryset = Project.objects.filter(
            cases__in=services.eligible_cases()
        ).distinct()
        _model_field(self, "cases").queryset = (
            services.eligible_cases().select_related("project").order_by("project", "position")
        )
        _model_field(self, "participants").queryset = services.readers()
        _model_field(self, "consensus").queryset = services.readers()
        active = ModelVersion.objects.active()
        if active is not None:
            self.fields["model_version"].initial = active.pk

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        if self.errors:
            return data
        data["design"] = data.get("design") or Design.UNAIDED
        data["washout_days"] = 28 if data.get("washout_days") is None else data["washout_days"]
        try:
            data["cases"] = services.cohort_cases(data.pop("project", None), list(data.get("cases") or []))
        except services.ReaderStudyError as exc:
            self.add_error(exc.field, str(exc))
        if data.get("consensus") and len(data["consensus"]) != 2:
            self.add_error("consensus", "choose exactly two participants, or none")
        return data
