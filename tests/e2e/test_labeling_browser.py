"""A labeler reads a case in the browser viewer; everything persists across a reload."""

from __future__ import annotations

import pytest

from ichweb.imaging.ingest import import_items
from ichweb.imaging.models import Study
from ichweb.labeling import services
from ichweb.labeling.models import AuditEvent, BleedingPoint, Read
from tests.accounts.factories import UserFactory
from tests.e2e.conftest import login
from tests.imaging.conftest import phantom_dir  # noqa: F401 -- session-wide phantoms

pytestmark = pytest.mark.slow


@pytest.fixture
def read(page, alice, bob, phantom_dir):  # noqa: F811
    import_items([("phantoms", phantom_dir / "case0001")])
    barbara = UserFactory(username="barbara", roles=("labeler",))
    services.create_project(
        lead=alice, name="Browser", studies=list(Study.objects.all()), readers=[bob, barbara]
    )
    return Read.objects.get(reader=bob)


def _saved(page) -> None:
    page.wait_for_function("() => document.querySelector('.vw-save')?.dataset.state === 'saved'")


def test_labeler_scrolls_windows_tags_and_points_and_it_persists(page, read):
    login(page, "bob")
    page.goto(f"/labeling/reads/{read.pk}/")
    canvas = page.locator("canvas.vw-canvas")
    canvas.wait_for()
    page.wait_for_function("() => document.querySelector('[data-slice-info]')?.textContent === '1 / 8'")
    canvas.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.locator("[data-slice-info]").inner_text() == "3 / 8"
    page.keyboard.press("F4")  # bone window
    assert "W 2800" in page.locator("[data-wl]").inner_text()
    page.keyboard.press("1")  # IPH on slice 3 (index 2)
    page.keyboard.press("5")  # SAH
    _saved(page)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("c")  # copy the previous slice's labels to index 3
    _saved(page)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("0")  # explicit no haemorrhage on index 4
    _saved(page)

    page.keyboard.press("ArrowUp")  # back to index 3: add a point and drag it
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(cx, cy)
    _saved(page)
    page.wait_for_function(
        "() => (document.querySelector('[data-points-total]') || document.body)"
        ".textContent.includes('1 on this slice')"
    )
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 20, cy + 10, steps=5)
    page.mouse.up()
    _saved(page)

    point = BleedingPoint.objects.get()
    assert point.slice.index == 3 and point.read_id == read.pk
    actions = list(AuditEvent.objects.filter(read=read).values_list("action", "slice_index"))
    assert [index for action, index in actions if action == "labels"] == [2, 2, 3, 4]
    assert ("point_add", 3) in actions and ("point_move", 3) in actions

    page.reload()
    page.wait_for_function(
        "() => document.querySelector('[data-slice-info]')?.textContent === '5 / 8'"
    )  # resumes at the last labeled slice
    detail = page.evaluate(f"fetch('/api/v1/labeling/reads/{read.pk}/').then(r => r.json())")
    assert detail["labels"] == {"2": ["IPH", "SAH"], "3": ["IPH", "SAH"], "4": []}
    assert len(detail["points"]) == 1 and detail["points"][0]["slice_index"] == 3
    moved = detail["points"][0]
    assert (moved["x"], moved["y"]) == (point.x, point.y)
    assert page.locator(".vw-row[data-slice='2'] .vw-chip").count() == 2
