"""Ground truth in and out: RSNA CSV import, CSV and JSON export, a malformed file refused whole."""

from __future__ import annotations

import pytest

from ichweb.labeling.models import GroundTruth

pytestmark = [pytest.mark.django_db, pytest.mark.pg]


def test_export_csv_and_json_and_import_of_rsna_ground_truth(client, consensus_project, alice, phantom_dir):
    client.force_login(alice)
    upload = (phantom_dir / "labels_rsna.csv").open("rb")
    with upload:
        result = client.post(
            f"/api/v1/labeling/projects/{consensus_project.pk}/import-ground-truth", {"file": upload}
        )
    assert result.status_code == 200, result.content
    assert result.json()["cases"] == 2 and result.json()["unknown_images"] == 0
    csv_text = client.get(f"/api/v1/labeling/projects/{consensus_project.pk}/export.csv").content.decode()
    lines = csv_text.strip().split("\n")
    assert lines[0] == "ID,Label" and (len(lines) - 1) == 6 * 16
    original = {
        line.rsplit("_", 1)[1]: line for line in (phantom_dir / "labels_rsna.csv").read_text().split()[1:]
    }
    assert {line.split(",")[0].rsplit("_", 1)[1] for line in lines[1:]} == {
        name.split(",")[0] for name in original
    }
    # the same positives as the phantom's own ground truth
    assert sum(line.endswith(",1") for line in lines[1:]) == sum(
        line.endswith(",1") for line in (phantom_dir / "labels_rsna.csv").read_text().split()[1:]
    )
    exported = client.get(f"/api/v1/labeling/projects/{consensus_project.pk}/export.json").json()
    assert exported["cases"][0]["ground_truth"]["method"] == "imported"


def test_a_malformed_csv_is_refused_and_nothing_changes(client, consensus_project, alice, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Label\nID_1.2.3_brainbleed,1\n")
    client.force_login(alice)
    with bad.open("rb") as handle:
        response = client.post(
            f"/api/v1/labeling/projects/{consensus_project.pk}/import-ground-truth", {"file": handle}
        )
    assert response.status_code == 400 and "line 2" in response.json()["file"][0]
    assert GroundTruth.objects.count() == 0
