"""Each role lands on its work; pages need login; the API answers without redirects."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ichweb.accounts.permissions import Managers
from ichweb.accounts.roles import MANAGERS, Role, is_manager
from tests.accounts.factories import UserFactory


@pytest.mark.parametrize(
    ("user_fixture", "home"),
    [
        ("alice", "analytics:dashboard"),
        ("bob", "labeling:queue"),
        ("carol", "readerstudy:studies"),
        ("dan", "admin:index"),
    ],
)
def test_each_role_lands_on_its_home(client, request, user_fixture, home):
    client.force_login(request.getfixturevalue(user_fixture))
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse(home)
    assert client.get(response.url).status_code == 200


def test_a_user_with_two_roles_chooses(client, db):
    client.force_login(UserFactory(username="erin", roles=("lead", "labeler")))
    response = client.get("/")
    assert response.status_code == 200
    assert reverse("analytics:dashboard") in response.text and reverse("labeling:queue") in response.text


def test_a_user_without_a_role_is_told_why(client, mallory):
    client.force_login(mallory)
    response = client.get("/")
    assert response.status_code == 200
    assert "no role yet" in response.text


def test_roles_cannot_open_each_others_pages(client, carol, bob):
    client.force_login(carol)
    assert client.get(reverse("analytics:dashboard")).status_code == 403
    assert client.get(reverse("labeling:queue")).status_code == 403
    client.force_login(bob)
    assert client.get(reverse("readerstudy:studies")).status_code == 403


@pytest.mark.parametrize("url", ["/", "/labeling/", "/dashboards/", "/reader-studies/", "/studies/"])
def test_pages_require_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_api_answers_anonymous_with_json_not_a_redirect(client, db):
    response = client.get("/api/v1/")
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")


def test_login_page_logs_in_and_logout_needs_post(client, alice):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and "csrfmiddlewaretoken" in page.text
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302 and response.url == reverse("home")
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_says_so(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.text


def test_admin_site_and_openapi_schema(client, dan):
    client.force_login(dan)
    assert client.get("/admin/").status_code == 200
    schema = client.get("/api/schema/")
    assert schema.status_code == 200


def test_managers_are_leads_and_admins(rf, alice, bob, carol, dan, mallory):
    assert set(MANAGERS) == {Role.LEAD, Role.ADMIN}
    for user, manager in ((alice, True), (dan, True), (bob, False), (carol, False), (mallory, False)):
        request = rf.get("/")
        request.user = user
        assert is_manager(user) is manager, user
        assert Managers().has_permission(request, None) is manager, user
    assert is_manager(UserFactory(username="sue", roles=("labeler",), is_superuser=True))
