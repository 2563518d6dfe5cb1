"""A lead imports files in the browser and sees the study with its thumbnail and report."""

from __future__ import annotations

import pytest

from ichweb.imaging.models import Study
from tests.e2e.conftest import login
from tests.imaging.conftest import pydicom_file

pytestmark = pytest.mark.slow


def test_lead_uploads_files_and_sees_the_report_and_the_study(page, alice, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not dicom")
    login(page, "alice")
    assert page.url.endswith("/dashboards/")
    page.goto("/studies/")
    page.locator("[data-upload] input[type=file]:not([webkitdirectory])").set_input_files(
        [str(pydicom_file("CT_small.dcm")), str(notes)]
    )
    report = page.locator("[data-upload-report] table")
    report.wait_for(timeout=30_000)
    assert page.locator("[data-upload-status]").get_attribute("data-state") == "success"
    assert report.locator("tr[data-status=skipped]").count() == 1
    assert "not a DICOM file" in report.locator("tr.is-skipped").inner_text()
    assert Study.objects.count() == 1

    page.goto("/studies/")
    thumb = page.locator("table.studies img.thumb").first
    thumb.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    page.locator("table.studies a", has_text="Study").first.click()
    page.wait_for_load_state()
    assert page.locator(".slice-strip img").count() == 1


def test_labeler_sees_no_upload_widget(page, bob):
    login(page, "bob")
    page.goto("/studies/")
    assert page.locator("[data-upload]").count() == 0
    assert "No studies imported yet" in page.content()
