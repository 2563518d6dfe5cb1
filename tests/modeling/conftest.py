"""Fixtures of the modeling tests: imported phantom studies with ground truth, and a tiny recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from ichweb.imaging.ingest import import_items
from ichweb.imaging.models import Study
from ichweb.labeling import services
from ichweb.labeling.exchange import import_rsna_csv
from ml.phantom import PhantomConfig

#: Six 64-pixel cases of 8 slices, two of them without haemorrhage.
GT_PHANTOMS = PhantomConfig(seed=7, size=64, slices_min=8, slices_max=8, negative_fraction=0.34)
N_CASES = 6
#: Recipe overrides that train ``lite`` in seconds: 64-pixel inputs, 2 epochs of 2 steps.
TINY = {"max_epochs": 2, "max_steps_per_epoch": 2, "input_size": 64, "batch_size": 8}


@pytest.fixture(scope="session")
def gt_phantom_dir(tmp_path_factory) -> Path:
    from ml.phantom import generate_dataset

    out = tmp_path_factory.mktemp("gt-phantoms")
    generate_dataset(GT_PHANTOMS, out, n_cases=N_CASES, progress=False)
    return out


def import_with_truth(folder: Path, lead) -> list[Study]:
    """Import the phantoms, put them in a project and import their RSNA labels as ground truth."""
    import_items([(f"phantoms/{p.name}", p) for p in sorted(folder.iterdir()) if p.is_dir()])
    studies = list(Study.objects.order_by("pk"))
    project = services.create_project(
        lead=lead, name="Ground truth", studies=studies, readers=[lead], readers_per_case=1
    )
    import_rsna_csv(project, (folder / "labels_rsna.csv").read_text(), lead)
    return studies


@pytest.fixture
def gt_studies(gt_phantom_dir, alice) -> list[Study]:
    return import_with_truth(gt_phantom_dir, alice)
