"""Workspace services and selectors: sign-up, creating and choosing workspaces, members.

Invitations live in ``accounts.invitations``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.exceptions import LastOwner, NotOwner, SignUpClosed
from accounts.models import Membership, Workspace

UserModel = get_user_model()


def sign_up_open() -> bool:
    """The first user can always sign up; after that, only when the server allows it."""
    return settings.ENRICH_OPEN_SIGNUP or not UserModel.objects.exists()


@transaction.atomic
def user_sign_up(*, username: str, email: str, password: str, workspace_name: str) -> Workspace:
    """Create a user and the workspace they own. The very first user also gets the admin site."""
    if not sign_up_open():
        raise SignUpClosed()
    first_user = not UserModel.objects.exists()
    user = UserModel.objects.create_user(
        username=username,
        email=email,
        password=password,
        is_staff=first_user,
        is_superuser=first_user,
    )
    return workspace_create(name=workspace_name, owner=user)


@transaction.atomic
def workspace_create(*, name: str, owner: User) -> Workspace:
    """Create a workspace with ``owner`` as its first owner; it is the one they use now."""
    workspace = Workspace.objects.create(name=name.strip())
    Membership.objects.create(
        workspace=workspace, user=owner, role=Membership.Role.OWNER, last_used_at=timezone.now()
    )
    return workspace


def workspaces_for_user(*, user: User) -> QuerySet[Workspace]:
    """The workspaces ``user`` belongs to, for the switcher."""
    return Workspace.objects.filter(memberships__user=user).order_by("name", "pk")


def membership_for(*, user: User, workspace_id: int | None) -> Membership | None:
    """The user's membership in ``workspace_id``, or else in the workspace they used last.

    Never the first by name: a workspace someone else named "AAA" and put the user in must
    not open at their next sign-in. None when the user has no workspace at all.
    """
    memberships = Membership.objects.select_related("workspace").filter(user=user)
    if workspace_id is not None:
        chosen = memberships.filter(workspace_id=workspace_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by(F("last_used_at").desc(nulls_last=True), "created_at", "pk").first()


def workspace_open(*, user: User, workspace_id: int) -> Membership | None:
    """Note that ``user`` now works in ``workspace_id``, so their next sign-in opens it again.

    None when they are not a member (the caller answers 404).
    """
    membership = membership_for(user=user, workspace_id=workspace_id)
    if membership is None or membership.workspace_id != workspace_id:
        return None
    membership.last_used_at = timezone.now()
    membership.save(update_fields=["last_used_at"])
    return membership


def members_of(*, workspace: Workspace) -> QuerySet[Membership]:
    """The workspace's memberships with their users, owners first."""
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("-role", "user__username")
    )


@transaction.atomic
def member_remove(*, workspace: Workspace, removed_by: Membership, membership_id: int) -> None:
    """Remove a member. Owners remove anyone; a member may only leave; the last owner stays."""
    membership = Membership.objects.select_for_update().get(pk=membership_id, workspace=workspace)
    if not removed_by.is_owner and membership.pk != removed_by.pk:
        raise NotOwner()
    if membership.is_owner:
        owners = Membership.objects.filter(workspace=workspace, role=Membership.Role.OWNER)
        if owners.count() == 1:
            raise LastOwner()
    membership.delete()


def member_set_role(
    *, workspace: Workspace, changed_by: Membership, membership_id: int, role: str
) -> Membership:
    """Make a member an owner or an owner a member (never the last owner)."""
    if not changed_by.is_owner:
        raise NotOwner()
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(
            pk=membership_id, workspace=workspace
        )
        if membership.is_owner and role != Membership.Role.OWNER:
            owners = Membership.objects.filter(workspace=workspace, role=Membership.Role.OWNER)
            if owners.count() == 1:
                raise LastOwner()
        membership.role = Membership.Role(role)
        membership.save(update_fields=["role"])
    return membership
