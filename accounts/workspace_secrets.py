"""Workspace secrets: named values for ``{{ get_secret('NAME') }}``, encrypted at rest.

Values go in (create, replace) and are read back only by the request pipeline
(``secret_value``); pages get a masked preview and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from accounts import crypto
from accounts.exceptions import (
    DecryptionError,
    InvalidSecretName,
    SecretNameTaken,
    SecretValueMissing,
)
from accounts.models import SECRET_NAME_PATTERN, Secret, Workspace

MASK = "••••"
#: Below this length even one character is too much of the value to show.
MIN_LENGTH_FOR_HINT = 8
_NAME = re.compile(SECRET_NAME_PATTERN)


@dataclass(frozen=True)
class SecretListItem:
    """A secret as its list shows it: the name and a masked preview, never the value."""

    pk: int
    name: str
    masked: str
    updated_at: datetime
    updated_by: str
    readable: bool


def masked_preview(value: str) -> str:
    """The first character and ``••••`` — just ``••••`` for a value too short to hint at."""
    if len(value) < MIN_LENGTH_FOR_HINT:
        return MASK
    return value[0] + MASK


def _checked_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name) or len(name) > 100:
        raise InvalidSecretName(name)
    return name


def _checked_value(value: str) -> str:
    """Any non-empty value. Unlike an account's keys (``MIN_KEY_LENGTH``), a workspace secret
    has no minimum length: short values that are not keys (a region, a tenant code, a flag)
    are legitimate, and the masker masks a value under ``SHORT_SECRET_LENGTH`` characters only
    where it stands alone, so ``eu`` never turns ``Europe`` into ``••••rope``."""
    if not value:
        raise SecretValueMissing()
    return value


def secret_create(
    *, workspace: Workspace, name: str, value: str, created_by: User | None
) -> Secret:
    """Add a secret; the name is unique in the workspace."""
    name, value = _checked_name(name), _checked_value(value)
    if Secret.objects.filter(workspace=workspace, name=name).exists():
        raise SecretNameTaken(name)
    secret = Secret(workspace=workspace, name=name, created_by=created_by, updated_by=created_by)
    secret.ciphertext = crypto.encrypt(value, binding=secret.binding)
    try:
        with transaction.atomic():
            secret.save()
    except IntegrityError:
        raise SecretNameTaken(name) from None
    return secret


def secret_replace(*, secret: Secret, value: str, updated_by: User | None) -> Secret:
    """Give a secret a new value (templates that use it get it on their next run)."""
    secret.ciphertext = crypto.encrypt(_checked_value(value), binding=secret.binding)
    secret.updated_by = updated_by
    secret.save(update_fields=["ciphertext", "updated_by", "updated_at"])
    return secret


@transaction.atomic
def secret_set(
    *, workspace: Workspace, name: str, value: str, set_by: User | None
) -> tuple[Secret, bool]:
    """Create the secret or replace its value; returns it and whether it was created."""
    name = _checked_name(name)
    existing = Secret.objects.select_for_update().filter(workspace=workspace, name=name).first()
    if existing is not None:
        return secret_replace(secret=existing, value=value, updated_by=set_by), False
    return secret_create(workspace=workspace, name=name, value=value, created_by=set_by), True


def secret_delete(*, secret: Secret) -> None:
    """Delete a secret; templates that still use it fail with “secret does not exist”."""
    secret.delete()


def secrets_for_list(*, workspace: Workspace) -> list[SecretListItem]:
    """The workspace's secrets by name, masked. One query."""
    items = []
    for secret in (
        Secret.objects.filter(workspace=workspace).select_related("updated_by").order_by("name")
    ):
        try:
            value = crypto.decrypt(secret.ciphertext, binding=secret.binding)
        except DecryptionError:
            preview, readable = MASK, False
        else:
            preview, readable = masked_preview(value), True
        items.append(
            SecretListItem(
                pk=secret.pk,
                name=secret.name,
                masked=preview,
                updated_at=secret.updated_at,
                updated_by=secret.updated_by.get_username() if secret.updated_by else "",
                readable=readable,
            )
        )
    return items


def secret_value(*, workspace_id: int, name: str) -> str | None:
    """The decrypted value of the workspace's secret ``name``; None when it has none.

    Only this workspace's rows are queried, and the ciphertext is bound to the workspace, so
    another workspace's secret is unreachable twice over. ``DecryptionError`` if it is damaged.
    """
    secret = Secret.objects.filter(workspace_id=workspace_id, name=name).first()
    if secret is None:
        return None
    try:
        return crypto.decrypt(secret.ciphertext, binding=secret.binding)
    except DecryptionError as error:
        raise error.about(f"The secret {name}") from None
