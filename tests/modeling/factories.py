"""factory-boy factories of the modeling room: runs, model versions, inference jobs and what they produce.

A factory gives a valid row with as little as the test cares about: ``ModelVersionFactory()`` is a six-label
model with thresholds of 0.5; ``InferenceJobFactory(series=s, model_version=v)`` a finished job.
"""

from __future__ import annotations

from typing import Any

import factory

from ichweb.modeling.models import (
    AtlasEntry,
    AttentionMap,
    InferenceJob,
    ModelVersion,
    PredictionBasis,
    SlicePrediction,
    Stage,
    TrainingRun,
)
from ml.labels import LABELS


class TrainingRunFactory(factory.django.DjangoModelFactory):
    """A ``lite`` run; pass ``snapshot`` and ``status`` for a finished one."""

    class Meta:
        model = TrainingRun

    name = factory.Sequence(lambda n: f"run {n}")
    recipe = "lite"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A model over the six labels, every threshold 0.5, its files under ``runs/<name>/``."""

    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"model #{n}")
    label_order = factory.LazyFunction(lambda: list(LABELS))
    thresholds = factory.LazyFunction(lambda: dict.fromkeys(LABELS, 0.5))
    directory = factory.LazyAttribute(lambda v: f"runs/{v.name.replace(' ', '-').replace('#', '')}")


class InferenceJobFactory(factory.django.DjangoModelFactory):
    """A finished job of ``model_version`` on ``series`` (both required)."""

    class Meta:
        model = InferenceJob

    status = Stage.SUCCEEDED


class SlicePredictionFactory(factory.django.DjangoModelFactory):
    """One slice's probabilities; ``slice`` given, ``index`` follows it."""

    class Meta:
        model = SlicePrediction

    index = factory.LazyAttribute(lambda p: p.slice.index)


class AtlasEntryFactory(factory.django.DjangoModelFactory):
    """An "any ICH" exemplar of ``model_version`` from filter ``index`` of layer4."""

    class Meta:
        model = AtlasEntry

    index = factory.Sequence(lambda n: n)
    label = "ANY"
    block = "layer4"
    filter = factory.LazyAttribute(lambda e: e.index)
    relevance = 3
    peak = 1.0


class AttentionMapFactory(factory.django.DjangoModelFactory):
    """A map row of ``job`` on ``slice`` (the PNG files are the test's to write)."""

    class Meta:
        model = AttentionMap

    index = factory.LazyAttribute(lambda m: m.slice.index)
    label = "ANY"
    arch = "tiny"
    max_value = 1.0
    area_percent = 7.5
    file = factory.LazyAttribute(
        lambda m: f"predictions/{m.job.pk}/{AttentionMap.file_name(m.index, m.label)}"
    )


class PredictionBasisFactory(factory.django.DjangoModelFactory):
    """One exemplar of a map's prediction basis (``attention_map``, ``entry`` and ``rank`` given)."""

    class Meta:
        model = PredictionBasis

    kind = PredictionBasis.Kind.TOP
    distance = 0.1


def predictions_on(job: InferenceJob, probabilities: list[float]) -> list[Any]:
    """The same per-label ``probabilities`` on every slice of the job's series."""
    return SlicePrediction.objects.bulk_create(
        SlicePrediction(job=job, slice=s, index=s.index, probabilities=list(probabilities))
        for s in job.series.slices.all()
    )
