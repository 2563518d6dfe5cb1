"""The shipped demo model: installed as the active version with its atlas, refused when a file is damaged."""

from __future__ import annotations

import shutil

import pytest

from ichweb.modeling import demo
from ichweb.modeling.models import AtlasEntry, ModelVersion

pytestmark = pytest.mark.django_db


def test_the_shipped_demo_model_installs_as_the_active_version(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    version = demo.install_demo_model()
    assert version is not None and version.is_active
    assert version.recipe["name"] == "lite" and version.archs == ["tiny"]
    assert version.thresholds["ANY"] is not None
    assert version.metrics["test"]["n_cases"] >= 50
    entries = AtlasEntry.objects.filter(model_version=version)
    # Every label present in the training cases has exemplars (the atlas is built over every training slice).
    trained_on = {label for label, n in version.metrics["train_positive_cases"].items() if n}
    assert trained_on <= {e.label for e in entries}
    assert (version.atlas_folder / "images").is_dir()
    assert (tmp_path / "media" / version.directory / "bundle" / "bundle.json").is_file()


def test_a_damaged_demo_file_is_refused_by_name_and_nothing_is_registered(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    source = tmp_path / "demo_model"
    shutil.copytree(demo.DEMO_MODEL, source)
    (source / "metrics.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"metrics\.json: sha256 differs"):
        demo.install_demo_model(source)
    assert not ModelVersion.objects.exists()
    assert demo.install_demo_model(tmp_path / "absent") is None
