"""Dashboard fixtures: phantom studies with ground truth, a model version with predictions on them, and two
readers' submitted reads (synthetic rows: the numbers are chosen, so the expected statistics are known)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ichweb.labeling import services as labeling
from ichweb.labeling.models import Read, SliceLabel, SubtypeFlags
from ichweb.modeling.models import InferenceJob, ModelVersion, Stage, TrainingRun
from ml.labels import LABELS
from tests.accounts.factories import UserFactory
from tests.modeling.conftest import gt_phantom_dir, gt_studies  # noqa: F401 -- shared fixtures


@dataclass
class Cohort:
    version: ModelVersion
    series: list[int]
    truth: dict[int, int]
    scores: dict[int, float]
    project: object


@pytest.fixture
def cohort(gt_studies, alice, bob) -> Cohort:  # noqa: F811 -- the imported fixture
    from ichweb.analytics.services import case_truth

    series = [s.series.get(kind="standard").pk for s in gt_studies]
    truth = {sid: row["ANY"] for sid, row in case_truth(series).items()}
    rng = np.random.default_rng(3)
    scores = {sid: float(np.clip(0.3 + 0.4 * truth[sid] + rng.normal(0, 0.25), 0, 1)) for sid in series}
    snapshot = {"cases": [{"series": sid, "split": "test"} for sid in series]}
    run = TrainingRun.objects.create(
        name="synthetic", recipe="lite", snapshot=snapshot, status=Stage.SUCCEEDED
    )
    version = ModelVersion.objects.create(
        run=run,
        name="synthetic #1",
        label_order=list(LABELS),
        thresholds=dict.fromkeys(LABELS, 0.5),
        is_active=True,
    )
    for sid in series:
        InferenceJob.objects.create(
            series_id=sid,
            model_version=version,
            status=Stage.SUCCEEDED,
            case_probabilities={label: scores[sid] for label in LABELS},
        )
    barbara = UserFactory(username="barbara", roles=("labeler",))
    project = labeling.create_project(
        lead=alice, name="Agreement", studies=list(gt_studies), readers=[bob, barbara], readers_per_case=2
    )
    for read in Read.objects.filter(case__project=project).select_related("case__series"):
        # bob says IPH on slice 2 of every case; barbara only on the cases the truth calls ICH.
        ich = read.reader == bob or truth[read.case.series_id]
        if ich:
            slice_ = read.case.series.slices.get(index=2)
            SliceLabel.objects.create(read=read, slice=slice_, **SubtypeFlags.flags({"IPH"}))
        read.status = Read.Status.SUBMITTED
        read.save()
    return Cohort(version, series, truth, scores, project)
