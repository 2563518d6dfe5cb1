"""factory-boy factories of the reader-study room.

A study is made the way a lead makes one, through ``services.create_study`` (cohort, material, orders), so
``ReaderStudyFactory(cases=c, participants=[carol])`` is a study a participant can read.
"""

from __future__ import annotations

from typing import Any

import factory

from ichweb.readerstudy import services
from ichweb.readerstudy.models import ReaderStudy
from tests.accounts.factories import UserFactory


class ReaderStudyFactory(factory.django.DjangoModelFactory):
    """A study of ``cases`` (labeling cases with ground truth, required) and ``participants`` (required)."""

    class Meta:
        model = ReaderStudy

    lead = factory.SubFactory(UserFactory, roles=("lead",))
    name = factory.Sequence(lambda n: f"Reader study {n}")
    cohort_name = "Phantom test set"

    @classmethod
    def _create(cls, model_class: type[ReaderStudy], *args: Any, **kwargs: Any) -> ReaderStudy:
        study, _report = services.create_study(**kwargs)
        return study
