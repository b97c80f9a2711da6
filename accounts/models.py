"""Workspaces own everything in Enrich; a membership says who may see one and as what.

Accounts (connections) and secrets hold a workspace's credentials, encrypted at rest.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from accounts.crypto import Binding
from connectors import auth_types


class Workspace(models.Model):
    """A team's space: its tables, accounts and secrets. Every query is scoped by one."""

    name = models.CharField(max_length=100, help_text="Shown in the workspace switcher.")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces"
    )

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in a workspace. Owners manage members and credentials."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(
        max_length=10,
        choices=Role.choices,
        default=Role.MEMBER,
        help_text="Owners can invite members and manage credentials; members use them.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the user last opened this workspace; sign-in opens the latest one.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="unique_membership"),
        ]
        ordering = ["workspace", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


class Invitation(models.Model):
    """An owner's offer of a workspace to a username or an email; it grants nothing until the
    person it names accepts it.

    It names an identifier, not a user, so the owner's form answers the same whether or not
    such an account exists, and someone who signs up later with that username or email finds
    it waiting.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        REVOKED = "revoked", "Revoked"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    invited_as = models.CharField(
        max_length=254,
        help_text="The username or email the owner typed, stripped and case-folded; matched "
        "against a user's username and email when they sign in.",
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was accepted, declined or revoked."
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The user who accepted it, shown to the owners in the member list.",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One open invitation per person and workspace: inviting again answers the same.
            models.UniqueConstraint(
                fields=["workspace", "invited_as"],
                condition=models.Q(status="pending"),
                name="unique_pending_invitation",
            ),
        ]
        # The invitee's lookup at every page: pending invitations for a username or email.
        indexes = [models.Index(fields=["invited_as", "status"], name="invitation_lookup")]

    def __str__(self) -> str:
        return f"{self.invited_as} to {self.workspace} ({self.status})"


# --- Credentials ----------------------------------------------------------------------------

#: The auth types registered in ``connectors.auth_types``, named as each type names itself:
#: a type added there appears here at once.
# Enum's functional API: mypy models it for Enum itself only and reads this call as making
# one TextChoices member, hence the ignore.
AuthType: type[models.TextChoices] = models.TextChoices(  # type: ignore[call-overload]
    "AuthType",
    [(name.upper(), (name, auth_types.get(name).label)) for name in auth_types.names()],
)
AuthType.__doc__ = "The auth types registered in ``connectors.auth_types``."


def auth_type_choices() -> list[tuple[str, str]]:
    """``Account.auth_type``'s choices, read from the registry when asked: a callable keeps
    the list out of the migrations, so a new auth type needs none."""
    return AuthType.choices


SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*\Z"  # noqa: S105 - a name pattern


class Authored(models.Model):
    """Who created and last changed a workspace's credential record, and when."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Account(Authored):
    """A reusable connection: an auth type and its credentials, shared by a workspace's columns.

    Non-secret fields live in ``config`` as plain JSON; secret fields (the ones the auth type's
    schema marks secret) live only in ``secrets_ciphertext``, encrypted and bound to this
    account. Editing an account affects every column that uses it.
    """

    class TestStatus(models.TextChoices):
        UNTESTED = "untested", "Not tested"
        OK = "ok", "Passed"
        FAILED = "failed", "Failed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="accounts")
    public_id = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text="Random public identifier: names the account's JWKS URL and is bound into "
        "the ciphertext of its secrets. Never the database id.",
    )
    NAME_MAX_LENGTH = 100
    name = models.CharField(
        max_length=NAME_MAX_LENGTH, help_text="Shown when a column picks an account."
    )
    auth_type = models.CharField(
        max_length=40,
        choices=auth_type_choices,
        help_text="How requests are authenticated; fixed once the account exists.",
    )
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text="The type's non-secret fields, as validated by the connectors schema.",
    )
    secrets_ciphertext = models.TextField(
        blank=True,
        help_text="The secret fields as one encrypted JSON object (see accounts.crypto); "
        "empty when the type has none set.",
    )
    secret_fields_set = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of the secret fields that hold a value, so pages can say “set” "
        "without decrypting anything.",
    )
    public_jwk = models.JSONField(
        null=True,
        blank=True,
        help_text="The public half of an asymmetric signing key, served at the JWKS URL.",
    )
    test_url = models.CharField(
        max_length=2000,
        blank=True,
        help_text="Optional URL that “Test connection” calls (GET) with the credentials.",
    )
    last_test_status = models.CharField(
        max_length=10, choices=TestStatus.choices, default=TestStatus.UNTESTED
    )
    last_test_message = models.CharField(max_length=500, blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_account_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def secrets_binding(self) -> Binding:
        """What the secrets' ciphertext is bound to: this workspace and this account."""
        return Binding(self.workspace_id, "accounts.Account", str(self.public_id), "secrets")


class Secret(Authored):
    """A named value for ``{{ get_secret('NAME') }}`` in the templates of one workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(
        max_length=100,
        validators=[RegexValidator(SECRET_NAME_PATTERN)],
        help_text="Letters, digits and underscores, not starting with a digit.",
    )
    ciphertext = models.TextField(help_text="The value, encrypted and bound to this name.")

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_secret_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def binding(self) -> Binding:
        """What the ciphertext is bound to: this workspace and this name."""
        return Binding(self.workspace_id, "accounts.Secret", self.name, "value")
