"""factory-boy factories of the labeling room.

A project is made the way a lead makes one, through ``services.create_project`` (one case per study, K
balanced reads), so ``ProjectFactory(studies=s, readers=[bob, barbara])`` is a project a test can read.
"""

from __future__ import annotations

from typing import Any

import factory

from ichweb.labeling import services
from ichweb.labeling.models import Project, SliceLabel, SubtypeFlags
from tests.accounts.factories import UserFactory


class ProjectFactory(factory.django.DjangoModelFactory):
    """A consensus project of ``studies`` (required) read by ``readers`` (required), led by ``lead``."""

    class Meta:
        model = Project

    lead = factory.SubFactory(UserFactory, roles=("lead",))
    name = factory.Sequence(lambda n: f"Project {n}")

    @classmethod
    def _create(cls, model_class: type[Project], *args: Any, **kwargs: Any) -> Project:
        return services.create_project(**kwargs)


class SliceLabelFactory(factory.django.DjangoModelFactory):
    """A slice label of ``read`` on ``slice``; ``subtypes={"IPH"}`` sets the flags (``ANY`` follows)."""

    class Meta:
        model = SliceLabel

    subtypes: Any = factory.LazyFunction(lambda: {"IPH"})

    @classmethod
    def _create(cls, model_class: type[SliceLabel], *args: Any, **kwargs: Any) -> SliceLabel:
        subtypes = set(kwargs.pop("subtypes"))
        return model_class.objects.create(**kwargs, **SubtypeFlags.flags(subtypes))
