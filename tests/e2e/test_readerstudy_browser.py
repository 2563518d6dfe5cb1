"""A participant completes a short reader study in Chromium: case reads, localisation, questionnaire."""

from __future__ import annotations

import pytest

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
