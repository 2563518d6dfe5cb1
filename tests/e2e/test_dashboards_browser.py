"""The lead opens the dashboards and every chart and table renders with numbers."""

from __future__ import annotations

import re

import pytest

from tests.analytics.conftest import cohort, gt_phantom_dir, gt_studies  # noqa: F401 -- fixtures
from tests.e2e.conftest import login

pytestmark = pytest.mark.slow


def test_lead_sees_every_panel_with_numbers(page, cohort):  # noqa: F811
    login(page, "alice")
    page.goto("/dashboards/")
    for name in ("roc", "pr", "summary", "agreement", "progress"):
        panel = page.locator(f"[data-panel={name}]")
        page.wait_for_function(
            f"() => document.querySelector('[data-panel={name}]').dataset.rendered === 'true'", timeout=30_000
        )
        pattern = r"\d" if name == "progress" else r"\d\.\d{3}"  # progress: counts of reads
        assert re.search(pattern, panel.inner_text()), name
        assert panel.locator("a", has_text="CSV").count() == 1
    for name in ("roc", "pr", "progress"):
        width = page.locator(f"[data-panel={name}] canvas").evaluate("c => c.width")
        assert width > 0
    assert "AUC" in page.locator("[data-panel=roc]").inner_text()
    page.wait_for_function(
        "() => document.querySelector('[data-panel=readerstudy]').dataset.rendered === 'true'"
    )
    assert "no reader study yet" in page.locator("[data-panel=readerstudy]").inner_text()
    page.locator("select[name=label]").select_option("IPH")
    page.wait_for_timeout(300)
    assert "IPH" in page.locator("[data-panel=roc] [data-role=links] a").first.get_attribute("href")
