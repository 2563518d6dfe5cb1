"""Who may call DICOMweb: every route as every role, tokens that expire or are revoked, CORS, the audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from ichweb.imaging.models import Study
from ichweb.interop import tokens
from ichweb.interop.models import ApiToken, DicomwebCall
from tests.interop.conftest import DICOM_PARTS, bearer, content, multipart_body

pytestmark = pytest.mark.django_db


def routes(study: Study) -> list[tuple[str, str]]:
    """Every DICOMweb route with real UIDs: (method, path)."""
    series = study.series.get()
    item = series.slices.first()
    s = f"/dicomweb/studies/{study.study_uid}"
    se = f"{s}/series/{series.series_uid}"
    i = f"{se}/instances/{item.sop_instance_uid}"
    gets = [
        "/dicomweb/studies",
        "/dicomweb/series",
        "/dicomweb/instances",
        s,
        f"{s}/metadata",
        f"{s}/series",
        f"{s}/instances",
        se,
        f"{se}/metadata",
        f"{se}/instances",
        i,
        f"{i}/metadata",
        f"{i}/rendered",
        f"{i}/frames/1",
        f"{i}/frames/1/rendered",
    ]
    return [("get", path) for path in gets] + [("post", "/dicomweb/studies"), ("post", s)]


def call(client, method: str, path: str, body: bytes, **headers):
    if method == "post":
        return client.post(path, body, content_type=DICOM_PARTS, **headers)
    return client.get(path, **headers)


def test_every_route_answers_leads_admins_and_service_accounts(client, stored, alice, dan, sam, series_files):
    body = multipart_body([series_files[0].read_bytes()])
    service = bearer(sam)
    for who, headers in (("alice", {}), ("dan", {}), ("sam", service)):
        client.logout()
        if who != "sam":
            client.force_login(alice if who == "alice" else dan)
        for method, path in routes(stored):
            response = call(client, method, path, body, **headers)
            content(response)
            assert response.status_code == 200, (
                who,
                method,
                path,
                response.status_code,
                response.content[:300],
            )


@pytest.mark.parametrize("who", ["bob", "carol", "mallory"])
def test_labelers_readers_and_outsiders_are_refused_every_route(client, stored, request, who, series_files):
    body = multipart_body([series_files[0].read_bytes()])
    client.force_login(request.getfixturevalue(who))
    for method, path in routes(stored):
        response = call(client, method, path, body)
        assert response.status_code == 403, (who, method, path)
        assert "team leads, admins and service accounts" in response.json()["detail"]
    assert Study.objects.count() == 1  # the refused STOW-RS stored nothing


def test_a_token_of_a_labeler_opens_nothing(client, stored, bob):
    token = ApiToken.objects.create(
        user=bob, name="sneaked", key_hash=tokens.digest("ichw_x"), prefix="ichw_x"
    )
    response = client.get("/dicomweb/studies", HTTP_AUTHORIZATION="Bearer ichw_x")
    assert response.status_code == 403 and token.pk


def test_anonymous_callers_get_401_with_a_bearer_challenge_on_every_route(client, stored, series_files):
    body = multipart_body([series_files[0].read_bytes()])
    for method, path in routes(stored):
        response = call(client, method, path, body)
        assert response.status_code == 401, (method, path)
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in response.json()["detail"]
    assert Study.objects.count() == 1


def test_an_expired_or_revoked_token_is_401_and_says_why(client, stored, sam):
    made = tokens.create_token(sam, name="gateway", days=1)
    header = {"HTTP_AUTHORIZATION": f"Bearer {made.secret}"}
    assert client.get("/dicomweb/studies", **header).status_code == 200
    ApiToken.objects.filter(pk=made.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.get("/dicomweb/studies", **header)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert 'error="invalid_token"' in expired["WWW-Authenticate"]
    ApiToken.objects.filter(pk=made.token.pk).update(expires_at=timezone.now() + timedelta(days=1))
    tokens.revoke_token(made.token)
    revoked = client.get("/dicomweb/studies", **header)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    unknown = client.get("/dicomweb/studies", HTTP_AUTHORIZATION="Bearer ichw_nonsense")
    assert unknown.status_code == 401 and "unknown" in unknown.json()["detail"]


def test_a_token_of_a_deactivated_account_is_401(client, stored, sam):
    header = bearer(sam)
    sam.is_active = False
    sam.save()
    response = client.get("/dicomweb/studies", **header)
    assert response.status_code == 401 and "deactivated" in response.json()["detail"]


def test_a_bearer_token_needs_no_csrf_token_but_a_session_does(stored, alice, sam, series_files):
    from django.test import Client

    body = multipart_body([series_files[0].read_bytes()])
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/dicomweb/studies", body, content_type=DICOM_PARTS, **bearer(sam)).status_code == 200
    strict.force_login(alice)
    refused = strict.post("/dicomweb/studies", body, content_type=DICOM_PARTS)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_the_token_command_creates_lists_and_revokes(client, stored, sam, bob, capsys):
    call_command("dicomweb_token", "create", "sam", "--days", "7", "--name", "PACS gateway")
    lines = capsys.readouterr().out.strip().splitlines()
    secret = lines[-1]
    assert secret.startswith("ichw_") and "expires" in lines[0]
    token = ApiToken.objects.get()
    assert token.key_hash != secret and token.key_hash == tokens.digest(secret)  # only the digest is kept
    assert timedelta(days=6) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert client.get("/dicomweb/studies", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    call_command("dicomweb_token", "list")
    assert "live" in capsys.readouterr().out
    call_command("dicomweb_token", "revoke", token.prefix)
    assert client.get("/dicomweb/studies", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="holds none of the roles"):
        call_command("dicomweb_token", "create", "bob")
    with pytest.raises(CommandError, match="days must lie between"):
        call_command("dicomweb_token", "create", "sam", "--days", "0")


def test_every_call_is_audited_with_its_user_status_and_instances(client, stored, sam, alice):
    header = bearer(sam)
    series = stored.series.get()
    client.get(f"/dicomweb/studies/{stored.study_uid}/series/{series.series_uid}", **header).getvalue()
    client.get("/dicomweb/studies/1.2.3", **header)
    client.get("/dicomweb/studies")
    calls = list(DicomwebCall.objects.order_by("id"))
    assert [(c.user, c.method, c.status, c.n_instances) for c in calls] == [
        (sam, "GET", 200, 8),
        (sam, "GET", 404, 0),
        (None, "GET", 401, 0),
    ]
    assert calls[0].token is not None and calls[0].token.user == sam
    assert calls[0].path.endswith(series.series_uid)


def test_cors_for_listed_origins_only(client, stored, sam, settings):
    settings.ICHWEB_DICOMWEB_CORS_ORIGINS = ["https://viewer.example.org"]
    preflight = client.options(
        "/dicomweb/studies",
        HTTP_ORIGIN="https://viewer.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, accept",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://viewer.example.org"
    assert "authorization" in preflight["Access-Control-Allow-Headers"].lower()
    assert "GET" in preflight["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in preflight
    answer = client.get("/dicomweb/studies", HTTP_ORIGIN="https://viewer.example.org", **bearer(sam))
    assert answer["Access-Control-Allow-Origin"] == "https://viewer.example.org"
    assert "Content-Type" in answer["Access-Control-Expose-Headers"]
    refused = client.get("/dicomweb/studies", HTTP_ORIGIN="https://evil.example.org", **bearer(sam))
    assert "Access-Control-Allow-Origin" not in refused
    evil = client.options(
        "/dicomweb/studies", HTTP_ORIGIN="https://evil.example.org", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert evil.status_code == 403 and "Access-Control-Allow-Origin" not in evil
    other = client.options(
        "/api/v1/studies/", HTTP_ORIGIN="https://viewer.example.org", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in other  # CORS is for /dicomweb/ only


def test_dicomweb_is_not_in_the_openapi_schema(client, alice):
    client.force_login(alice)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200 and "/dicomweb/" not in schema.content.decode()
