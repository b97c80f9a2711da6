"""Sign-up, sign-in, creating, switching and sharing workspaces, through the real views."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Workspace
from tests.conftest import member_of

pytestmark = pytest.mark.django_db
User = get_user_model()


def sign_up(client: Client, username: str = "ada", **extra: str):
    data = {
        "username": username,
        "email": f"{username}@example.test",
        "password1": "a long pass phrase",
        "password2": "a long pass phrase",
        "workspace_name": "Growth team",
    }
    data.update(extra)
    return client.post(reverse("sign_up"), data)


def test_a_new_server_sends_its_first_visitor_to_sign_up(client: Client) -> None:
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("sign_up")
    assert b"Create your account" in response.content


def test_signing_up_creates_the_user_their_workspace_and_signs_them_in(client: Client) -> None:
    response = sign_up(client)
    assert response.status_code == 302

    page = client.get(reverse("home"))
    user = User.objects.get(username="ada")
    workspace = Workspace.objects.get(name="Growth team")
    assert Membership.objects.get(user=user, workspace=workspace).role == Membership.Role.OWNER
    assert user.is_superuser  # the first user administers the server
    assert b"No tables yet" in page.content
    assert b"Create your first table" in page.content


def test_later_sign_ups_are_not_superusers(client: Client, make_user) -> None:
    make_user("first")
    sign_up(client, "second")
    assert not User.objects.get(username="second").is_superuser


def test_sign_up_errors_are_shown_and_nothing_is_created(client: Client) -> None:
    response = sign_up(client, password2="something else")
    assert response.status_code == 200
    assert b"field__error" in response.content
    assert not User.objects.exists()
    assert not Workspace.objects.exists()


def test_sign_up_can_be_closed_after_the_first_user(client: Client, make_user, settings) -> None:
    settings.ENRICH_OPEN_SIGNUP = False
    make_user("first")
    response = sign_up(client, "intruder")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert not User.objects.filter(username="intruder").exists()


def test_every_page_but_sign_in_sign_up_and_health_needs_a_signed_in_user(
    client: Client, make_user
) -> None:
    make_user()
    for name in ("home", "table_create", "workspace_list", "workspace_create", "member_list"):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login")), name
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("health")).status_code == 200


def test_sign_in_and_out(client: Client, make_user) -> None:
    make_user("grace", password="a long pass phrase")
    response = client.post(
        reverse("login"), {"username": "grace", "password": "a long pass phrase"}
    )
    assert response.status_code == 302
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_a_user_without_workspace_is_asked_to_create_one(client: Client, make_user) -> None:
    client.force_login(make_user())
    response = client.get(reverse("home"))
    assert response["Location"] == reverse("workspace_create")

    client.post(reverse("workspace_create"), {"name": "Sales"})
    assert b"No tables yet" in client.get(reverse("home")).content


def test_creating_and_switching_workspaces(owner_client) -> None:
    client, first = owner_client
    client.post(reverse("workspace_create"), {"name": "Second"})
    second = Workspace.objects.get(name="Second")
    assert client.get(reverse("home")).context["workspace"] == second

    client.post(reverse("workspace_switch", args=[first.pk]))
    page = client.get(reverse("home"))
    assert page.context["workspace"] == first
    assert set(page.context["workspaces"]) == {first, second}


def test_a_member_cannot_invite_or_remove_others(make_workspace, make_user) -> None:
    workspace = make_workspace()
    member, other = make_user(), make_user()
    member_of(workspace, member)
    other_membership = member_of(workspace, other)
    client = Client()
    client.force_login(member)

    client.post(reverse("member_list"), {"identifier": make_user().username})
    client.post(reverse("member_remove", args=[other_membership.pk]))

    assert workspace.memberships.count() == 3
    assert not workspace.invitations.exists()
    assert b"Invite someone" not in client.get(reverse("member_list")).content


def test_the_last_owner_cannot_leave_or_step_down(owner_client) -> None:
    client, workspace = owner_client
    mine = workspace.memberships.get()

    left = client.post(reverse("member_remove", args=[mine.pk]), follow=True)
    demoted = client.post(reverse("member_role", args=[mine.pk]), {"role": "member"}, follow=True)

    assert "at least one owner" in left.content.decode()
    assert "at least one owner" in demoted.content.decode()
    assert workspace.memberships.get().role == Membership.Role.OWNER


def test_a_member_may_leave(make_workspace, make_user) -> None:
    workspace = make_workspace()
    member = make_user()
    membership = member_of(workspace, member)
    client = Client()
    client.force_login(member)

    client.post(reverse("member_remove", args=[membership.pk]))

    assert not workspace.memberships.filter(user=member).exists()
    assert client.get(reverse("home"))["Location"] == reverse("workspace_create")


def test_creating_a_table_lists_it_on_the_home_page(owner_client) -> None:
    client, workspace = owner_client
    response = client.post(reverse("table_create"), {"name": "  Leads  "})
    table = workspace.tables.get()
    assert table.name == "Leads"
    assert response["Location"] == reverse("table_detail", args=[table.pk])
    assert b"Leads" in client.get(reverse("home")).content


def test_htmx_requests_carry_the_csrf_token(owner_client) -> None:
    client, _ = owner_client
    page = client.get(reverse("home")).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert "vendor/htmx.min.js" in page
