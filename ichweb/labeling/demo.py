"""Demo data for `make run`: a consensus project over the demo studies, read by the demo labelers."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from ichweb.imaging.models import Study
from ichweb.labeling.models import Project
from ichweb.labeling.services import create_project


def seed(stdout: Any) -> None:
    if Project.objects.exists():
        stdout.write("Labeling demo: projects already present.")
        return
    users = get_user_model().objects
    lead = users.filter(username="alice").first()
    readers = list(users.filter(username__in=["bob", "barbara"]))
    studies = list(Study.objects.order_by("pk"))
    if lead is None or len(readers) < 2 or not studies:
        stdout.write("Labeling demo: skipped (needs the demo users and studies).")
        return
    project = create_project(
        lead=lead,
        name="Demo: consensus of two readers",
        studies=studies,
        readers=readers,
        description="Phantom head CT read independently by bob and barbara.",
    )
    n = project.cases.count()
    stdout.write(f"Labeling demo: project '{project.name}' with {n} cases for bob and barbara.")
