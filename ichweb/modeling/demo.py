"""Demo data for `make run`: the phantoms' own labels as ground truth, and a `lite` model trained in the
background by the gpu-queue worker, so the demo shows predictions, maps and atlas after a few minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from ichweb.imaging.models import Study
from ichweb.labeling.exchange import import_rsna_csv
from ichweb.labeling.models import Project, Read
from ichweb.labeling.services import create_project
from ichweb.modeling import training
from ichweb.modeling.models import TrainingRun

PROJECT_NAME = "Demo: phantom ground truth"


def seed(stdout: Any) -> None:
    if TrainingRun.objects.exists():
        stdout.write("Modeling demo: runs already present.")
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
    try:
        run = training.start_run(
            user=lead,
            recipe="lite",
            project_ids=[project.pk],
            val_fraction=0.2,
            test_fraction=0.2,
            name="Demo lite model",
            predict_all_when_done=True,
        )
    except ValueError as exc:
        stdout.write(f"Modeling demo: no training run ({exc}).")
        return
    stdout.write(
        f"Modeling demo: run {run.pk} queued ({run.name}); the gpu worker trains it in a few minutes, "
        "then the demo studies get predictions."
    )
