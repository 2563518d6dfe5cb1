"""A participant completes a short reader study in Chromium: case reads, localisation, questionnaire; and in a
sequential study reads a case unaided, then with the model's output."""

from __future__ import annotations

import pytest
from django.test import Client

from ichweb.labeling.models import Case as LabelingCase
from ichweb.readerstudy import services
from ichweb.readerstudy.models import CaseRead, LocalisationMark, QuestionnaireAnswer
from ichweb.readerstudy.truth import case_truths
from tests.e2e.conftest import login
from tests.modeling.conftest import gt_phantom_dir, import_with_truth  # noqa: F401 -- session phantoms
from tests.readerstudy.conftest import MAP_CENTRE, make_material

pytestmark = pytest.mark.slow


def test_a_participant_reads_localises_and_answers_the_questionnaire(page, alice, carol, gt_phantom_dir):  # noqa: F811
    import_with_truth(gt_phantom_dir, alice)
    cases = list(LabelingCase.objects.select_related("series").order_by("position"))
    material = make_material([c.series for c in cases])
    study, _ = services.create_study(
        lead=alice,
        name="Short study",
        cohort_name="Phantoms",
        cases=cases,
        participants=[carol],
        model_version=material.version,
    )
    # Keep it short: one case with ICH and one without.
    truths = case_truths(study.cases.all())
    keep = [next(pk for pk, t in truths.items() if t.ich), next(pk for pk, t in truths.items() if not t.ich)]
    study.items.exclude(case_id__in=keep).delete()
    study.cases.exclude(pk__in=keep).delete()

    login(page, "carol")
    page.goto("/reader-studies/")
    page.get_by_role("link", name="Short study").click()
    page.get_by_role("link", name="Start").click()

    # Case reads: the questionnaire refuses to open meanwhile (the API says why).
    heading = page.locator("[data-role=heading]")
    for number in (1, 2):
        heading.filter(has_text=f"Case {number} of 2").wait_for()
        page.wait_for_function("() => document.querySelector('[data-role=image]').naturalWidth > 0")
        page.locator("[data-role=slider]").fill("6")
        if number == 1:
            page.locator("[data-role=ich-yes]").check()
            page.locator("[data-subtype=IPH]").check()
        else:
            page.locator("[data-role=ich-no]").check()
        page.locator("[data-role=confidence]").fill("80")
        page.locator("[data-role=submit]").click()
    page.locator("[data-role=finished]").wait_for()
    reads = CaseRead.objects.filter(participant=carol, submitted_at__isnull=False)
    assert reads.count() == 2 and all(0 < r.reading_seconds < 60 for r in reads)  # a beat at submission

    page.goto(f"/reader-studies/{study.pk}/questionnaire/")
    status = page.locator("[data-role=status]")
    status.filter(has_text="opens only after the localisation task is finished").wait_for()

    # Localisation: one slice, a click in its middle, submitted.
    page.goto(f"/reader-studies/{study.pk}/")
    page.get_by_role("link", name="Open").first.click()
    heading.filter(has_text="Slice 1 of 1").wait_for()
    image = page.locator("[data-role=image]")
    page.wait_for_function("() => document.querySelector('[data-role=image]').naturalWidth > 0")
    box = image.bounding_box()
    assert box is not None and box["width"] > 0
    page.mouse.click(
        box["x"] + box["width"] * (MAP_CENTRE[0] + 0.5) / 64,
        box["y"] + box["height"] * (MAP_CENTRE[1] + 0.5) / 64,
    )
    assert page.locator("[data-role=count]").inner_text() == "1 point"
    assert page.locator("circle[data-layer=edit]").count() == 1
    page.locator("[data-role=save]").click()
    page.locator("[data-role=finished]").wait_for()
    ((x, y),) = LocalisationMark.objects.get(participant=carol).points
    assert abs(x - MAP_CENTRE[0]) <= 1 and abs(y - MAP_CENTRE[1]) <= 1

    # Questionnaire: the overlay and four lettered sets; choose one.
    page.goto(f"/reader-studies/{study.pk}/questionnaire/")
    heading.filter(has_text="Slice 1 of 1").wait_for()
    page.wait_for_function(
        "() => { const o = document.querySelector('[data-role=overlay]');"
        " return !o.hidden && o.naturalWidth > 0; }"
    )
    assert page.locator("[data-letter]").count() == 4
    page.wait_for_function(
        "() => [...document.querySelectorAll('.rs-option img')].every((i) => i.naturalWidth > 0)"
    )
    page.locator("[data-letter=b]").check()
    page.locator("[data-role=submit]").click()
    page.locator("[data-role=finished]").wait_for()
    answer = QuestionnaireAnswer.objects.get(participant=carol)
    assert answer.letter == "b"

    page.goto(f"/reader-studies/{study.pk}/")
    assert page.get_by_text("All tasks done").is_visible()


def _one_case_sequential_study(alice, carol, gt_phantom_dir):  # noqa: F811
    """A sequential study of one ICH case, carol its participant; returns the study and the case id."""
    import_with_truth(gt_phantom_dir, alice)
    cases = list(LabelingCase.objects.select_related("series").order_by("position"))
    material = make_material([c.series for c in cases])
    study, _ = services.create_study(
        lead=alice,
        name="Aided study",
        cohort_name="Phantoms",
        cases=cases,
        participants=[carol],
        model_version=material.version,
        design="sequential",
    )
    truths = case_truths(study.cases.all())
    keep = next(pk for pk, t in truths.items() if t.ich)
    study.items.exclude(case_id=keep).delete()
    study.cases.exclude(pk=keep).delete()
    return study, keep


def _read(page, confidence: str) -> None:
    page.locator("[data-role=ich-yes]").check()
    page.locator("[data-role=confidence]").fill(confidence)
    page.locator("[data-role=submit]").click()


def test_a_participant_reads_a_case_unaided_then_with_the_models_output(page, alice, carol, gt_phantom_dir):  # noqa: F811
    study, keep = _one_case_sequential_study(alice, carol, gt_phantom_dir)
    login(page, "carol")
    page.goto(f"/reader-studies/{study.pk}/")
    assert page.locator("[data-role=design]").first.inner_text().startswith("You read each case twice")
    page.get_by_role("link", name="Start").click()
    heading = page.locator("[data-role=heading]")
    heading.filter(has_text="Case 1 of 1").wait_for()
    page.wait_for_function("() => document.querySelector('[data-role=image]').naturalWidth > 0")
    assert not page.locator("[data-role=model]").is_visible()
    _read(page, "60")

    # The unaided read is in; the model's output is one click away, and opening it locks the unaided answer.
    show = page.locator("[data-role=show-aided]")
    show.wait_for(state="visible")
    assert CaseRead.objects.get(participant=carol, modality="unaided").confidence == 60
    show.click()
    heading.filter(has_text="with the model's output").wait_for()
    model = page.locator("[data-role=model]")
    assert model.is_visible() and "86.4 %" in model.locator("[data-role=model-calls]").inner_text()
    assert page.locator("[data-role=slice-chart] polyline").count() == 1
    page.wait_for_function(
        "() => { const o = document.querySelector('[data-role=overlay]');"
        " return !o.hidden && o.naturalWidth > 0 && o.style.opacity === '0.5'; }"
    )
    page.locator("[data-role=overlay-toggle]").uncheck()
    assert page.locator("[data-role=overlay]").evaluate("o => o.style.opacity") == "0"
    page.locator("[data-role=overlay-toggle]").check()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-exemplar] img')].every((i) => i.naturalWidth > 0)"
    )
    assert page.locator("[data-exemplar]").count() >= 1
    locked = page.locator("[data-role=unaided-answer]")
    assert locked.is_visible() and "locked" in locked.inner_text() and "confidence 60" in locked.inner_text()
    _read(page, "95")
    page.locator("[data-role=finished]").wait_for()
    reads = {r.modality: r for r in CaseRead.objects.filter(participant=carol)}
    assert reads["aided"].confidence == 95 and reads["aided"].submitted_at is not None
    assert reads["unaided"].confidence == 60 and reads["aided"].opened_at > reads["unaided"].submitted_at

    # The API refuses to change the unaided answer now.
    client = Client()
    client.force_login(carol)
    url = f"/api/v1/reader-studies/{study.pk}/cases/{keep}/read"
    refused = client.put(
        url, {"ich": False, "subtypes": [], "confidence": 10}, content_type="application/json"
    )
    assert refused.status_code == 409 and "seen the model's output" in refused.json()["detail"]
    assert CaseRead.objects.get(participant=carol, modality="unaided").ich is True
