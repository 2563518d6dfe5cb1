"""Demo data for `make run`: the phantoms' own labels as ground truth, and the shipped demo model.

The demo model (``DEMO_MODEL``: a ``lite`` bundle and its atlas, trained on 300 of 500 phantom cases by
``python -m ml.cli.demo_model --out ichweb/modeling/demo_model``, files guarded by its ``SHA256SUMS``) is
installed as an active model version, and every demo study is queued for inference: a minute after
``make run`` the studies have predictions, attention maps and prediction-basis exemplars. Training on the
six demo studies themselves would give a model at chance; a lead can still start runs from the Models page.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from ichweb.imaging.models import Study
from ichweb.labeling.exchange import import_rsna_csv
from ichweb.labeling.models import Project, Read
from ichweb.labeling.services import create_project
from ichweb.modeling import training
from ichweb.modeling.inference import predict_all
from ichweb.modeling.models import ModelVersion

#: The shipped demo model (``python -m ml.cli.demo_model --out ichweb/modeling/demo_model``).
DEMO_MODEL = Path(__file__).resolve().parent / "demo_model"

PROJECT_NAME = "Demo: phantom ground truth"


def seed(stdout: Any) -> None:
    if ModelVersion.objects.exists():
        stdout.write("Modeling demo: model versions already present.")
        return
    lead = get_user_model().objects.filter(username="alice").first()
    labels = Path(settings.VAR_DIR) / "demo-phantoms" / "labels_rsna.csv"
    studies = list(Study.objects.order_by("pk"))
    if lead is None or not studies or not labels.exists():
        stdout.write("Modeling demo: skipped (needs the demo lead, studies and phantom labels).")
        return
    project = Project.objects.filter(name=PROJECT_NAME).first()
    if project is None:
        project = create_project(
            lead=lead,
            name=PROJECT_NAME,
            studies=studies,
            readers=[lead],
            readers_per_case=1,
            description="The phantom generator's own labels, imported as ground truth for the demo model.",
        )
        import_rsna_csv(project, labels.read_text(), lead)
        # The truth is imported, nobody reads these cases: keep them out of the lead's labeling queue.
        Read.objects.filter(case__project=project).delete()
    version = install_demo_model()
    if version is None:
        stdout.write(f"Modeling demo: no demo model ({DEMO_MODEL} is missing); train one on the Models page.")
        return
    queued = predict_all(version)
    stdout.write(
        f"Modeling demo: model {version.name} active; {queued} studies queued for inference "
        "on the gpu worker."
    )


def install_demo_model(source: Path = DEMO_MODEL) -> ModelVersion | None:
    """Copy the shipped demo model into MEDIA_ROOT and register it as the active version (None: not shipped).

    Raises:
        ValueError: a shipped file is damaged (its sha256 differs from ``SHA256SUMS``); nothing is written.
    """
    from ml.atlas import load_atlas
    from ml.bundle import load_bundle
    from ml.cli.demo_model import verify_sums

    if not (source / "SHA256SUMS").is_file():
        return None
    sums = verify_sums(source)
    relative = (
        Path("models") / f"demo-{hashlib.sha256(''.join(sorted(sums.values())).encode()).hexdigest()[:12]}"
    )
    target = Path(settings.MEDIA_ROOT) / relative
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    bundle = load_bundle(target / "bundle")
    atlas = load_atlas(target / "atlas")
    training.write_atlas_images(atlas, target / "atlas")
    metrics = json.loads((target / "metrics.json").read_text(encoding="utf-8"))
    with transaction.atomic():
        version = ModelVersion.objects.create(
            run=None,
            name="Demo lite model (phantoms)",
            recipe=bundle.recipe,
            archs=bundle.archs,
            label_order=list(bundle.label_order),
            thresholds=bundle.thresholds,
            metrics={
                "validation": metrics.get("validation", {}),
                "test": metrics.get("test", {}),
                "train_positive_cases": metrics.get("train_positive_cases", {}),
            },
            directory=str(relative),
            artifacts=dict(sums),
            explain_arch=atlas.arch,
        )
        training.store_atlas_rows(version, atlas)
        training.activate(version)
    return version
