"""Invitations: an owner offers a workspace to a username or an email; the person accepts it.

Nothing is granted until the invitee accepts, and the owner's answer never depends on whether
an account with that username or email exists: an invitation names an identifier, not a
user, and waits (``ENRICH_INVITATION_DAYS``) for whoever signs in or signs up with it.

Enrich does not verify email addresses, so an invitation goes to whoever holds that username
or email when it is accepted; the owners see who accepted in the member list.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.exceptions import AlreadyMember, InvalidInvitee, InvitationNotFound, NotOwner
from accounts.models import Invitation, Membership, Workspace


def _identifier(raw: str) -> str:
    """The form an invitation is stored and matched in: stripped and case-folded."""
    return raw.strip().casefold()


#: Django's username characters (``UnicodeUsernameValidator``).
USERNAME = re.compile(r"^[\w.@+-]{1,150}\Z")


def _valid_identifier(identifier: str) -> bool:
    if USERNAME.match(identifier):
        return True
    try:
        validate_email(identifier)
    except ValidationError:
        return False
    return True


def _open() -> QuerySet[Invitation]:
    """Pending invitations that have not expired."""
    since = timezone.now() - timedelta(days=settings.ENRICH_INVITATION_DAYS)
    return Invitation.objects.filter(status=Invitation.Status.PENDING, created_at__gte=since)


def _identifiers_of(user: User) -> list[str]:
    names = [_identifier(user.get_username())]
    email = _identifier(getattr(user, "email", "") or "")
    if email:
        names.append(email)
    return names


def invitation_create(
    *, workspace: Workspace, invited_by: Membership, identifier: str
) -> Invitation:
    """Invite a username or email to ``workspace``; inviting again returns the open invitation.

    Only a malformed identifier or one of the workspace's own members (whom the owner sees in
    the member list anyway) is refused: whether an account exists is never told.
    """
    if not invited_by.is_owner or invited_by.workspace_id != workspace.pk:
        raise NotOwner()
    invited_as = _identifier(identifier)
    if not _valid_identifier(invited_as):
        raise InvalidInvitee()
    member = next(
        (
            m
            for m in workspace.memberships.select_related("user")
            if invited_as in _identifiers_of(m.user)
        ),
        None,
    )
    if member is not None:
        raise AlreadyMember(member.user.get_username())
    with transaction.atomic():
        # An expired invitation gives way to the new one.
        Invitation.objects.filter(
            workspace=workspace, invited_as=invited_as, status=Invitation.Status.PENDING
        ).exclude(pk__in=_open().values("pk")).update(
            status=Invitation.Status.REVOKED, responded_at=timezone.now()
        )
        existing = _open().filter(workspace=workspace, invited_as=invited_as).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                return Invitation.objects.create(
                    workspace=workspace, invited_as=invited_as, invited_by=invited_by.user
                )
        except IntegrityError:  # the same invitation, sent twice at once
            return _open().get(workspace=workspace, invited_as=invited_as)


def pending_invitations_of(*, workspace: Workspace) -> QuerySet[Invitation]:
    """A workspace's open invitations, for its owners' member list."""
    return _open().filter(workspace=workspace).select_related("invited_by")


def invitations_for(*, user: User) -> QuerySet[Invitation]:
    """The open invitations addressed to ``user``'s username or email, but not to a workspace
    they are in already."""
    return (
        _open()
        .filter(invited_as__in=_identifiers_of(user))
        .exclude(workspace__memberships__user=user)
        .select_related("workspace", "invited_by")
    )


@transaction.atomic
def invitation_accept(*, invitation_id: int, user: User) -> Membership:
    """Join the invitation's workspace as a member. Only its invitee may; anyone else (and an
    expired or answered invitation) gets ``InvitationNotFound``."""
    invitation = _invitation_of(invitation_id=invitation_id, user=user)
    membership, _ = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": Membership.Role.MEMBER}
    )
    invitation.status = Invitation.Status.ACCEPTED
    invitation.accepted_by = user
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "accepted_by", "responded_at"])
    return membership


@transaction.atomic
def invitation_decline(*, invitation_id: int, user: User) -> Invitation:
    """Say no to an invitation; the owners see it leave their pending list."""
    invitation = _invitation_of(invitation_id=invitation_id, user=user)
    invitation.status = Invitation.Status.DECLINED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])
    return invitation


@transaction.atomic
def invitation_revoke(
    *, workspace: Workspace, revoked_by: Membership, invitation_id: int
) -> Invitation:
    """Withdraw a pending invitation of ``workspace`` (owners only)."""
    if not revoked_by.is_owner or revoked_by.workspace_id != workspace.pk:
        raise NotOwner()
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .filter(pk=invitation_id, workspace=workspace, status=Invitation.Status.PENDING)
        .first()
    )
    if invitation is None:
        raise InvitationNotFound()
    invitation.status = Invitation.Status.REVOKED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])
    return invitation


def _invitation_of(*, invitation_id: int, user: User) -> Invitation:
    invitation = (
        _open()
        .select_for_update(of=("self",))
        .filter(pk=invitation_id, invited_as__in=_identifiers_of(user))
        .select_related("workspace")
        .first()
    )
    if invitation is None:
        raise InvitationNotFound()
    return invitation
