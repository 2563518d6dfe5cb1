"""A lead starts a training run in the browser, watches it progress, and reviews a prediction's heatmap."""

from __future__ import annotations

import pytest

from ichweb.imaging.models import Series
from ichweb.modeling.models import InferenceJob, Stage, TrainingRun
from tests.conftest import start_worker
from tests.e2e.conftest import login
from tests.modeling.conftest import gt_phantom_dir, import_with_truth  # noqa: F401 -- session phantoms

pytestmark = pytest.mark.slow


def test_lead_starts_a_run_watches_progress_and_reviews_the_overlay(page, alice, settings, gt_phantom_dir):  # noqa: F811
    import_with_truth(gt_phantom_dir, alice)
    workers = start_worker()
    worker = next(workers)
    try:
        settings.ICHWEB_GPU_QUEUE = settings.ICHWEB_DEFAULT_QUEUE = worker.queue
        login(page, "alice")
        page.goto("/models/")
        form = page.locator("#new-run")
        form.locator("select[name=recipe]").select_option("lite")
        form.locator("input[name=max_epochs]").fill("3")
        form.locator("input[name=max_steps_per_epoch]").fill("3")
        form.locator("input[name=predict_all_when_done]").check()
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/models/runs/*/")
        bar = page.locator("#run progress[data-field=overall]")
        # The bar moves without a reload: first above zero, then full when the run succeeds.
        page.wait_for_function(
            "() => document.querySelector('#run progress[data-field=overall]').value > 0", timeout=120_000
        )
        page.locator("#run [data-field=status]", has_text="Succeeded").wait_for(timeout=240_000)
        assert float(bar.evaluate("el => el.value")) == 1.0
        assert page.locator("#run tbody[data-field=archs] tr").count() == 1
        run = TrainingRun.objects.get()
        assert run.status == Stage.SUCCEEDED

        series = Series.objects.filter(kind=Series.Kind.STANDARD).order_by("pk").first()

        def job_done() -> bool:
            job = InferenceJob.objects.filter(series=series).first()
            return job is not None and job.finished

        page.wait_for_timeout(200)
        for _ in range(240):
            if job_done():
                break
            page.wait_for_timeout(500)
        assert InferenceJob.objects.get(series=series).status == Stage.SUCCEEDED

        page.goto(f"/models/review/{series.pk}/")
        page.locator("[data-role=body]").wait_for(state="visible", timeout=30_000)
        assert page.locator("[data-role=case] tbody tr").count() == 6
        overlay = page.locator("[data-role=overlay]")
        page.wait_for_function(
            "() => { const i = document.querySelector('[data-role=overlay]');"
            " return !i.hidden && i.complete && i.naturalWidth > 0; }",
            timeout=30_000,
        )
        assert overlay.evaluate("el => getComputedStyle(el).opacity") == "0.5"
        page.locator("[data-role=opacity]").fill("80")
        assert overlay.evaluate("el => el.style.opacity") == "0.8"
        page.locator("[data-role=overlay-toggle]").uncheck()
        assert overlay.evaluate("el => el.style.opacity") == "0"
        assert page.locator("[data-role=basis] li.basis-item").count() >= 1
        assert page.locator("[data-role=chart]").evaluate("c => c.width > 0")
    finally:
        workers.close()
