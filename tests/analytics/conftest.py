"""Dashboard fixtures: phantom studies with ground truth, a model version with predictions on them, and two
readers' submitted reads (synthetic rows: the numbers are chosen, so the expected statistics are known)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ichweb.labeling.models import Read
from ichweb.modeling.models import ModelVersion, Stage
from ml.labels import LABELS
from tests.accounts.factories import UserFactory
from tests.labeling.factories import ProjectFactory, SliceLabelFactory
from tests.modeling.conftest import gt_phantom_dir, gt_studies  # noqa: F401 -- shared fixtures
from tests.modeling.factories import InferenceJobFactory, ModelVersionFactory, TrainingRunFactory


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
    run = TrainingRunFactory(name="synthetic", snapshot=snapshot, status=Stage.SUCCEEDED)
    version = ModelVersionFactory(run=run, name="synthetic #1", is_active=True)
    for sid in series:
        InferenceJobFactory(
            series_id=sid, model_version=version, case_probabilities={label: scores[sid] for label in LABELS}
        )
    barbara = UserFactory(username="barbara", roles=("labeler",))
    project = ProjectFactory(
        lead=alice, name="Agreement", studies=list(gt_studies), readers=[bob, barbara], readers_per_case=2
    )
    for read in Read.objects.filter(case__project=project).select_related("case__series"):
        # bob says IPH on slice 2 of every case; barbara only on the cases the truth calls ICH.
        ich = read.reader == bob or truth[read.case.series_id]
        if ich:
            SliceLabelFactory(read=read, slice=read.case.series.slices.get(index=2), subtypes={"IPH"})
        read.status = Read.Status.SUBMITTED
        read.save()
    return Cohort(version, series, truth, scores, project)
