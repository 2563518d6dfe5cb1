"""Login throttling (django-axes) and API rate limits (DRF throttles)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from tests.accounts.factories import PASSWORD

LOCKED = "This account is locked after too many failed log-ins"


def _fail(client, url: str, times: int, username: str = "alice") -> list:
    return [client.post(url, {"username": username, "password": "wrong password"}) for _ in range(times)]


@pytest.fixture
def limit(settings) -> int:
    assert settings.AXES_FAILURE_LIMIT == 5  # the documented default
    return settings.AXES_FAILURE_LIMIT


def test_the_right_password_is_refused_after_too_many_failures(client, alice, limit):
    url = reverse("login")
    responses = _fail(client, url, limit)
    assert [r.status_code for r in responses[:-1]] == [200] * (limit - 1)
    assert responses[-1].status_code == 429 and LOCKED in responses[-1].text

    response = client.post(url, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert LOCKED in response.text
    assert "Wait 15 minutes" in response.text and "administrator" in response.text
    assert 'name="username"' in response.text  # the form is still there, for after the wait
    assert "_auth_user_id" not in client.session


def test_thirty_wrong_passwords_never_let_the_right_one_in(client, alice):
    _fail(client, reverse("login"), 30)
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429 and "_auth_user_id" not in client.session


def test_admin_login_is_throttled_too(client, dan, limit):
    url = reverse("admin:login")
    _fail(client, url, limit, username="dan")
    response = client.post(url, {"username": "dan", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 429 and LOCKED in response.text
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_user_and_address(client, alice, bob, limit):
    _fail(client, reverse("login"), limit)
    # Another user from the same address still logs in...
    response = client.post(reverse("login"), {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302
    client.logout()
    # ...and so does alice from another address.
    response = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 302


def test_an_administrator_resets_the_lockout(client, alice, limit):
    _fail(client, reverse("login"), limit)
    assert client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 429
    call_command("axes_reset_username", "alice")
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("home")


def test_a_success_before_the_limit_forgets_the_failures(client, alice, limit):
    _fail(client, reverse("login"), limit - 1)
    assert client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 302
    client.logout()
    _fail(client, reverse("login"), limit - 1)
    assert client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 302


def test_authenticate_without_a_request_still_works(alice):
    """Management commands, the shell and ``Client.login`` authenticate without a request."""
    from django.contrib.auth import authenticate
    from django.test import Client

    assert authenticate(username="alice", password=PASSWORD) == alice
    assert Client().login(username="alice", password=PASSWORD)


def test_api_throttle_classes_are_installed():
    classes = api_settings.DEFAULT_THROTTLE_CLASSES
    assert AnonRateThrottle in classes and UserRateThrottle in classes
    rates = api_settings.DEFAULT_THROTTLE_RATES
    assert rates["anon"] and rates["user"] == "2000/minute"


def test_a_user_over_the_rate_gets_429(client, alice, monkeypatch):
    # The throttle classes read their rates once, at import; a tiny rate for this test only.
    monkeypatch.setattr(
        UserRateThrottle, "THROTTLE_RATES", {**UserRateThrottle.THROTTLE_RATES, "user": "3/minute"}
    )
    client.force_login(alice)
    codes = [client.get("/api/v1/studies/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/api/v1/studies/")
    assert response.status_code == 429 and "Retry-After" in response


def test_without_a_cool_off_only_an_administrator_unlocks(client, alice, limit, settings):
    settings.AXES_COOLOFF_TIME = None  # ICHWEB_LOGIN_COOLOFF_MINUTES=0
    _fail(client, reverse("login"), limit)
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Ask an administrator to unlock it" in response.text and "Wait" not in response.text


def test_a_malformed_rate_names_the_variable():
    from django.core.exceptions import ImproperlyConfigured

    from ichweb.config import env_rate

    assert env_rate("ICHWEB_API_USER_RATE", "2000/minute", {}) == "2000/minute"
    assert env_rate("ICHWEB_API_USER_RATE", "2000/minute", {"ICHWEB_API_USER_RATE": "50/s"}) == "50/s"
    with pytest.raises(ImproperlyConfigured, match="ICHWEB_API_USER_RATE='lots' is not valid"):
        env_rate("ICHWEB_API_USER_RATE", "2000/minute", {"ICHWEB_API_USER_RATE": "lots"})
