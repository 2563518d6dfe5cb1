"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.accounts.factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def _plain_http_live_server() -> Iterator[None]:
    """The live server speaks plain HTTP on localhost; its middleware reads these once, when it starts."""
    from django.test import override_settings

    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        SECURE_HSTS_SECONDS=0,
    ):
        yield


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}: `apt-get install chromium` (or set CHROMIUM_PATH)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    manifest = Path(django_settings.FRONTEND_DIST) / ".vite" / "manifest.json"
    assert manifest.exists(), "the frontend is not built: run `make frontend` (make test does)"
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread while the browser lives; the ORM calls of
    # the tests (and the database flush after each) stay synchronous. Restored when the module ends, so the
    # variable never reaches processes that other tests start (check --deploy refuses it).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


#: Runs in every page before its own scripts (injected by the browser, so the CSP does not apply to it).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const what = `${e.effectiveDirective} refused ${e.blockedURI || "inline"}`;
  window.__cspViolations.push(`${what} on ${e.documentURI}`);
});
"""


def csp_violations(page) -> list[str]:
    """What the Content-Security-Policy refused on the page open now."""
    return page.evaluate("() => window.__cspViolations || []")


@pytest.fixture
def page(browser, live_server, transactional_db):
    """A fresh browser context on the live server; the database is flushed after the test.

    Every test fails if the Content-Security-Policy refused anything on the page it ends on (the
    console shows the same as "Refused to ..." errors).
    """
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    if not page.is_closed():
        refused += csp_violations(page)
    context.close()
    assert not refused, f"the CSP refused: {refused}"


def login(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
