"""Security headers: CSP without inline script, Permissions-Policy, no-store on the API, Clear-Site-Data at
logout, no gunicorn banner; and templates that need no inline script under that CSP."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.urls import reverse

from ichweb.imaging.models import Slice
from tests.imaging.conftest import pydicom_file

ROOT = Path(__file__).resolve().parents[2]


def _csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_pages_carry_a_csp_without_inline_script(client, alice):
    client.force_login(alice)
    response = client.get(reverse("analytics:dashboard"))
    assert response.status_code == 200
    csp = _csp(response)
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:", "blob:"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"] and csp["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    policy = response["Permissions-Policy"]
    assert "camera=()" in policy and "microphone=()" in policy and "geolocation=()" in policy


def test_the_login_page_has_the_headers_too(client, db):
    response = client.get(reverse("login"))
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "microphone=()" in response["Permissions-Policy"]


def test_api_json_and_csv_are_not_stored(client, alice):
    client.force_login(alice)
    response = client.get("/api/v1/studies/")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response["Cache-Control"] == "no-store"
    assert "Permissions-Policy" in response
    response = client.get("/api/v1/analytics/readerstudy/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Cache-Control"] == "no-store"
    # Errors too: a 404 on the API is as private as its answers.
    assert client.get("/api/v1/series/999999/")["Cache-Control"] == "no-store"


def test_pixel_routes_stay_cacheable(client, alice):
    client.force_login(alice)
    with pydicom_file("CT_small.dcm").open("rb") as handle:
        assert client.post("/api/v1/studies/", {"files": [handle]}).status_code == 201
    item = Slice.objects.get()
    for url in (f"/api/v1/slices/{item.pk}/image.png", f"/api/v1/slices/{item.pk}/hu"):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" not in response["Cache-Control"]
        assert "max-age=86400" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_logout_clears_the_browser_cache(client, alice):
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"cache"'
    assert "_auth_user_id" not in client.session


def test_the_admin_logout_clears_the_browser_cache_too(client, dan):
    client.force_login(dan)
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 302 and response["Clear-Site-Data"] == '"cache"'
    assert "_auth_user_id" not in client.session


def test_the_api_docs_load_no_inline_script_and_no_cdn(client, alice):
    client.force_login(alice)
    page = client.get(reverse("api-docs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn.jsdelivr.net" not in html and "<style" not in html
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    script = re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    response = client.get(script)
    assert response.status_code == 200 and "SwaggerUIBundle" in response.content.decode()


# --- templates: nothing the CSP would refuse --------------------------------------------------------

TEMPLATES = sorted((ROOT / "ichweb").glob("**/templates/**/*.html"))
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
HANDLER_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*?\son[a-z]+\s*=", re.IGNORECASE)
STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def test_templates_are_found():
    assert len(TEMPLATES) > 10


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_have_no_inline_script_handlers_or_styles(template):
    text = template.read_text()
    for attributes in SCRIPT_TAG.findall(text):
        assert "src=" in attributes or 'type="application/json"' in attributes, (
            f"{template.name}: inline <script{attributes}>: move it to frontend/src or pass JSON data"
        )
    assert not HANDLER_ATTRIBUTE.search(text), f"{template.name}: an on...= handler attribute"
    assert not STYLE.search(text), f"{template.name}: inline style (CSP style-src 'self')"
    assert not JAVASCRIPT_URL.search(text), f"{template.name}: a javascript: URL"


def test_json_script_data_is_not_executable(client, alice):
    """Pages hand data to scripts as <script type="application/json">, which the CSP never runs."""
    from django.template import engines

    html = engines["django"].from_string('{{ value|json_script:"x" }}').render({"value": {"a": 1}})
    assert html.startswith('<script id="x" type="application/json">')


# --- gunicorn ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_gunicorn_does_not_name_itself(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py")),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "tests.foundation.wsgi_hello:app"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    server_header = response.headers.get("Server", "")
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "gunicorn" not in server_header.lower()
    assert server_header == "ichweb"


def test_the_image_and_compose_start_gunicorn_with_its_config():
    assert '"--config", "gunicorn.conf.py"' in (ROOT / "Dockerfile").read_text()
    assert "COPY manage.py gunicorn.conf.py" in (ROOT / "Dockerfile").read_text()
    assert "--config gunicorn.conf.py" in (ROOT / "docker-compose.yml").read_text()
