"""Workspace services and selectors: sign-up, creating, inviting and choosing workspaces."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet

from accounts.exceptions import AlreadyMember, LastOwner, NotOwner, SignUpClosed, UserNotFound
from accounts.models import Membership, Workspace

User = get_user_model()


def sign_up_open() -> bool:
    """The first user can always sign up; after that, only when the server allows it."""
    return settings.ENRICH_OPEN_SIGNUP or not User.objects.exists()


@transaction.atomic
def user_sign_up(*, username: str, email: str, password: str, workspace_name: str) -> Workspace:
    """Create a user and the workspace they own. The very first user also gets the admin site."""
    if not sign_up_open():
        raise SignUpClosed()
    first_user = not User.objects.exists()
    user = User.objects.create_user(
        username=username,
        email=email,
        password=password,
        is_staff=first_user,
        is_superuser=first_user,
    )
    return workspace_create(name=workspace_name, owner=user)


@transaction.atomic
def workspace_create(*, name: str, owner: AbstractBaseUser) -> Workspace:
    """Create a workspace with ``owner`` as its first owner."""
    workspace = Workspace.objects.create(name=name.strip())
    Membership.objects.create(workspace=workspace, user=owner, role=Membership.Role.OWNER)
    return workspace


def workspaces_for_user(*, user: AbstractBaseUser) -> QuerySet[Workspace]:
    """The workspaces ``user`` belongs to, for the switcher."""
    return Workspace.objects.filter(memberships__user=user).order_by("name", "pk")


def membership_for(*, user: AbstractBaseUser, workspace_id: int | None) -> Membership | None:
    """The user's membership in ``workspace_id``, or their first workspace's when that is None
    or not theirs. None when the user has no workspace at all."""
    memberships = Membership.objects.select_related("workspace").filter(user=user)
    if workspace_id is not None:
        chosen = memberships.filter(workspace_id=workspace_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by("workspace__name", "workspace_id").first()


def members_of(*, workspace: Workspace) -> QuerySet[Membership]:
    """The workspace's memberships with their users, owners first."""
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("-role", "user__username")
    )


def member_invite(*, workspace: Workspace, invited_by: Membership, identifier: str) -> Membership:
    """Add an existing user, found by username or email, to ``workspace`` as a member."""
    if not invited_by.is_owner or invited_by.workspace_id != workspace.pk:
        raise NotOwner()
    identifier = identifier.strip()
    user = User.objects.filter(Q(username__iexact=identifier) | Q(email__iexact=identifier)).first()
    if user is None or not identifier:
        raise UserNotFound(identifier)
    membership, created = Membership.objects.get_or_create(workspace=workspace, user=user)
    if not created:
        raise AlreadyMember(user.get_username())
    return membership


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
