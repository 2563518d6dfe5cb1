"""Demo data for `make run`: a handful of phantom head-CT studies, imported through the ingest service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from ichweb.imaging.ingest import import_items
from ichweb.imaging.models import Study

DEMO_CASES = 6
DEMO_SEED = 2026


def seed(stdout: Any) -> None:
    """Generate (once, cached in var/demo-phantoms) and import the demo phantoms unless studies exist."""
    if Study.objects.exists():
        stdout.write(f"Imaging demo: {Study.objects.count()} studies already present.")
        return
    from ml.phantom import PhantomConfig, generate_dataset

    folder = Path(settings.VAR_DIR) / "demo-phantoms"
    if not (folder / "manifest.json").exists():
        stdout.write(f"Generating {DEMO_CASES} phantom head-CT cases in {folder} ...")
        config = PhantomConfig(seed=DEMO_SEED, denoised=True)
        generate_dataset(config, folder, n_cases=DEMO_CASES, progress=True)
    result = import_items([(f"demo-phantoms/{p.name}", p) for p in sorted(folder.iterdir()) if p.is_dir()])
    stdout.write(
        f"Imaging demo: imported {len(result.studies)} phantom studies ({result.n_accepted} images)."
    )
