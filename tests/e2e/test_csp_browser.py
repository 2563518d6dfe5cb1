"""The pages work under the Content-Security-Policy: a tour of every role's pages in Chromium.

The ``page`` fixture fails a test whose pages had anything refused by the CSP; this test also checks
after each page, so the message names the page.
"""

from __future__ import annotations

import pytest

from tests.accounts.factories import UserFactory
from tests.e2e.conftest import csp_violations, login

pytestmark = pytest.mark.slow


def _visit(page, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status < 400, f"{path}: {response and response.status}"
    page.wait_for_load_state("networkidle")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert csp_violations(page) == [], path


def test_every_page_runs_under_the_csp(page, alice):
    login(page, "alice")
    for path in (
        "/dashboards/",
        "/studies/",
        "/labeling/",
        "/labeling/projects/new/",
        "/models/",
        "/reader-studies/",
        "/reader-studies/new/",
        "/api/docs/",
        "/api/v1/",
    ):
        _visit(page, path)
    # The Swagger page really ran its script (served as a file of its own).
    page.goto("/api/docs/")
    page.locator(".swagger-ui .info").wait_for(timeout=30_000)
    assert csp_violations(page) == []
    page.goto("/studies/")
    page.click("form[action='/accounts/logout/'] button")
    page.wait_for_load_state()

    UserFactory(username="root", is_staff=True, is_superuser=True)
    login(page, "root")
    for path in ("/admin/", "/admin/auth/user/", "/admin/axes/accessattempt/"):
        _visit(page, path)


def test_a_locked_out_login_shows_the_message_in_the_browser(page, alice):
    for _ in range(5):
        page.goto("/accounts/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "wrong password")
        page.click("button[type=submit]")
        page.wait_for_load_state()
    assert "locked" in page.locator("#login-locked").inner_text()
    login(page, "alice")  # the right password, refused while locked
    assert page.locator("#login-locked").is_visible()
    assert csp_violations(page) == []
