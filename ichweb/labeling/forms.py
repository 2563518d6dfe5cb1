from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from ichweb.accounts.roles import Role
from ichweb.imaging.models import Study
from ichweb.labeling.models import Project


def _labelers():
    return (
        get_user_model()
        .objects.filter(groups__name__in=[Role.LABELER, Role.LEAD])
        .distinct()
        .order_by("username")
    )


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    mode = forms.ChoiceField(choices=Project.Mode.choices)
    readers_per_case = forms.IntegerField(
        min_value=1,
        max_value=10,
        initial=2,
        help_text="K independent reads per case (adjudication mode uses 2).",
    )
    discordance = forms.ChoiceField(
        choices=Project.Discordance.choices, help_text="What sends a case to consensus or adjudication."
    )
    show_reader_identities = forms.BooleanField(
        required=False, help_text="Show who read what on the consensus page."
    )
    studies = forms.ModelMultipleChoiceField(
        queryset=Study.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    readers = forms.ModelMultipleChoiceField(queryset=_labelers(), widget=forms.CheckboxSelectMultiple)
    adjudicators = forms.ModelMultipleChoiceField(
        queryset=_labelers(), widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["readers"].queryset = _labelers()
        self.fields["adjudicators"].queryset = _labelers()
        self.fields["studies"].queryset = Study.objects.all()


class ConsensusForm(forms.Form):
    exclusion = forms.CharField(required=False)
