"""Invitations: nothing is granted before the invitee accepts, and the owner learns nothing
about which accounts exist. Sign-in opens the workspace used last, never the first by name."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership
from tests.conftest import member_of

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def invite(client: Client, identifier: str):
    return client.post(reverse("member_list"), {"identifier": identifier}, follow=True)


def test_an_invitation_grants_nothing_until_it_is_accepted(owner_client, make_user) -> None:
    client, workspace = owner_client
    lin = make_user("lin")

    page = invite(client, "LIN")

    assert not workspace.memberships.filter(user=lin).exists()
    invitation = Invitation.objects.get(workspace=workspace)
    assert (invitation.invited_as, invitation.status) == ("lin", Invitation.Status.PENDING)
    html = page.content.decode()
    assert "Invitation sent to lin." in html
    assert "Pending invitations" in html and ">lin<" in html


def test_the_owner_gets_the_same_answer_whether_or_not_the_account_exists(
    owner_client, make_user
) -> None:
    client, workspace = owner_client
    make_user("real")

    answers = {name: invite(client, f"{name}@example.test") for name in ("real", "ghost")}

    def shown(name: str) -> str:
        html = answers[name].content.decode().replace(f"{name}@example.test", "<who>")
        html = re.sub(r'(csrfmiddlewaretoken" value=|X-CSRFToken": )"[^"]+"', r"\1", html)
        # The pending list holds both by now; keep only the answer to this request.
        return html.split("Pending invitations")[0]

    assert answers["real"].status_code == answers["ghost"].status_code == 200
    assert shown("real") == shown("ghost")
    assert set(workspace.invitations.values_list("invited_as", flat=True)) == {
        "real@example.test",
        "ghost@example.test",
    }
    assert workspace.memberships.count() == 1


def test_inviting_again_keeps_one_invitation(owner_client) -> None:
    client, workspace = owner_client
    invite(client, "ada@example.test")
    again = invite(client, " ADA@example.test ")
    assert "Invitation sent to ada@example.test." in again.content.decode()
    assert workspace.invitations.count() == 1


def test_a_malformed_identifier_or_a_member_is_refused_with_the_reason(
    owner_client, make_user
) -> None:
    client, workspace = owner_client
    bad = invite(client, "not a name!")
    assert "Enter a username or an email address" in bad.content.decode()

    member = make_user("kim")
    member_of(workspace, member)
    again = invite(client, "KIM@example.test")
    assert "kim is already a member of this workspace." in again.content.decode()
    assert not workspace.invitations.exists()


def test_the_invitee_sees_the_invitation_and_accepting_opens_the_workspace(
    make_workspace, make_user
) -> None:
    owner, lin = make_user("owner"), make_user("lin")
    own = make_workspace("Lin's own", owner=lin)
    shared = make_workspace("Shared", owner=owner)
    signed_in(owner).post(reverse("member_list"), {"identifier": "lin@example.test"})
    client = signed_in(lin)

    home = client.get(reverse("home")).content.decode()
    assert "Invitations" in home and "Shared" in home and "Accept" in home
    listed = client.get(reverse("workspace_list")).content.decode()
    assert "Shared" in listed and "Accept" in listed and "Decline" in listed

    invitation = Invitation.objects.get()
    response = client.post(reverse("invitation_accept", args=[invitation.pk]), follow=True)

    assert "You joined “Shared”." in response.content.decode()
    assert response.context["workspace"] == shared
    membership = Membership.objects.get(workspace=shared, user=lin)
    assert membership.role == Membership.Role.MEMBER
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.accepted_by == lin
    assert "Accept" not in client.get(reverse("home")).content.decode()
    assert own.memberships.filter(user=lin).exists()


def test_declining_leaves_the_workspace_alone(make_workspace, make_user) -> None:
    owner, lin = make_user(), make_user("lin")
    shared = make_workspace("Shared", owner=owner)
    make_workspace(owner=lin)
    signed_in(owner).post(reverse("member_list"), {"identifier": "lin"})
    invitation = Invitation.objects.get()
    client = signed_in(lin)

    response = client.post(reverse("invitation_decline", args=[invitation.pk]), follow=True)

    assert "You declined the invitation to “Shared”." in response.content.decode()
    assert not shared.memberships.filter(user=lin).exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.DECLINED
    assert client.post(reverse("invitation_accept", args=[invitation.pk])).status_code == 404
    owners_page = signed_in(owner).get(reverse("member_list")).content.decode()
    assert "No pending invitations." in owners_page


def test_someone_who_signs_up_later_with_that_email_finds_the_invitation(
    owner_client,
) -> None:
    client, workspace = owner_client
    invite(client, "newcomer@example.test")

    newcomer = Client()
    newcomer.post(
        reverse("sign_up"),
        {
            "username": "newcomer",
            "email": "Newcomer@Example.test",
            "password1": "a long pass phrase",
            "password2": "a long pass phrase",
            "workspace_name": "Mine",
        },
    )
    page = newcomer.get(reverse("workspace_list")).content.decode()
    assert workspace.name in page and "Accept" in page
    invitation = Invitation.objects.get()
    newcomer.post(reverse("invitation_accept", args=[invitation.pk]))
    assert workspace.memberships.filter(user__username="newcomer").exists()


def test_an_owner_revokes_a_pending_invitation(owner_client, make_user) -> None:
    client, workspace = owner_client
    lin = make_user("lin")
    invite(client, "lin")
    invitation = Invitation.objects.get()

    response = client.post(reverse("invitation_revoke", args=[invitation.pk]), follow=True)

    assert "The invitation to lin was revoked." in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED
    lin_client = signed_in(lin)
    assert "Accept" not in lin_client.get(reverse("workspace_list")).content.decode()
    assert lin_client.post(reverse("invitation_accept", args=[invitation.pk])).status_code == 404
    assert not workspace.memberships.filter(user=lin).exists()
    # Revoked once is revoked: a second try is a 404, not a second message.
    assert client.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 404


def test_a_member_cannot_see_or_revoke_pending_invitations(owner_client, make_user) -> None:
    client, workspace = owner_client
    invite(client, "lin")
    invitation = Invitation.objects.get()
    member = make_user()
    member_of(workspace, member)
    member_client = signed_in(member)

    assert "Pending invitations" not in member_client.get(reverse("member_list")).content.decode()
    response = member_client.post(reverse("invitation_revoke", args=[invitation.pk]), follow=True)
    assert "Only workspace owners can do that." in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING


def test_nobody_else_can_accept_or_decline_an_invitation(owner_client, make_user) -> None:
    client, workspace = owner_client
    make_user("lin")
    intruder = make_user("intruder")
    invite(client, "lin")
    invitation = Invitation.objects.get()
    intruder_client = signed_in(intruder)

    for name in ("invitation_accept", "invitation_decline"):
        assert intruder_client.post(reverse(name, args=[invitation.pk])).status_code == 404
    assert not workspace.memberships.filter(user=intruder).exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING


def test_an_expired_invitation_is_neither_shown_nor_accepted(
    owner_client, make_user, settings
) -> None:
    client, workspace = owner_client
    lin = make_user("lin")
    lin_client = signed_in(lin)
    invite(client, "lin")
    invitation = Invitation.objects.get()
    Invitation.objects.filter(pk=invitation.pk).update(
        created_at=timezone.now() - timedelta(days=settings.ENRICH_INVITATION_DAYS, minutes=1)
    )

    assert "Accept" not in lin_client.get(reverse("workspace_list")).content.decode()
    accept = lin_client.post(reverse("invitation_accept", args=[invitation.pk]))
    assert accept.status_code == 404
    # Inviting again opens a fresh invitation.
    invite(client, "lin")
    assert workspace.invitations.filter(status=Invitation.Status.PENDING).count() == 1
    assert workspace.invitations.get(status=Invitation.Status.REVOKED).pk == invitation.pk


def test_a_user_without_a_workspace_can_accept_from_the_create_page(
    owner_client, make_user
) -> None:
    client, workspace = owner_client
    lin = make_user("lin")
    invite(client, "lin")
    lin_client = signed_in(lin)

    page = lin_client.get(reverse("home"), follow=True).content.decode()
    assert "New workspace" in page and workspace.name in page and "Accept" in page

    lin_client.post(reverse("invitation_accept", args=[Invitation.objects.get().pk]))
    assert lin_client.get(reverse("home")).context["workspace"] == workspace


def sign_in(username: str) -> Client:
    client = Client()
    answer = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert answer.status_code == 302
    return client


def test_sign_in_opens_the_workspace_used_last_not_the_first_by_name(
    make_workspace, make_user
) -> None:
    victim, attacker = make_user("victim"), make_user("attacker")
    own = make_workspace("Zeta", owner=victim)
    trap = make_workspace("AAA look here", owner=attacker)
    # Even were the victim put into the attacker's workspace, it must not open by itself.
    member_of(trap, victim)

    assert sign_in("victim").get(reverse("home")).context["workspace"] == own


def test_sign_in_remembers_the_workspace_switched_to(make_workspace, make_user) -> None:
    user = make_user("ada")
    first = make_workspace("Alpha", owner=user)
    second = make_workspace("Beta", owner=user)
    client = sign_in("ada")
    client.post(reverse("workspace_switch", args=[first.pk]))
    client.post(reverse("logout"))

    assert sign_in("ada").get(reverse("home")).context["workspace"] == first
    client = sign_in("ada")
    client.post(reverse("workspace_switch", args=[second.pk]))
    assert sign_in("ada").get(reverse("home")).context["workspace"] == second
