"""Re-encrypting every stored credential under the current (first) encryption key.

Rotation: put the new key first in ``ENRICH_ENCRYPTION_KEYS`` (keep the old one after it),
run ``manage.py rotate_encryption_keys``, then remove the old key. Values that cannot be
decrypted are reported and left as they are, so one damaged row never blocks the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.conf import settings

from accounts import crypto
from accounts.connections import decrypt_token, encrypt_token, token_key_prefix
from accounts.exceptions import DecryptionError
from accounts.models import Account, Secret
from connectors import AuthError
from connectors.auth import Token


@dataclass
class RotationReport:
    """What a rotation did: counts per kind, and what it could not decrypt."""

    accounts: int = 0
    secrets: int = 0
    tokens: int = 0
    already_current: int = 0
    failures: list[str] = field(default_factory=list)


def encryption_keys_rotate() -> RotationReport:
    """Re-encrypt account secrets, workspace secrets and cached tokens under the first key."""
    report = RotationReport()
    for account in Account.objects.exclude(secrets_ciphertext="").iterator():
        _rotate_row(
            report,
            row=account,
            field_name="secrets_ciphertext",
            binding=account.secrets_binding,
            label=f"account “{account.name}” (workspace {account.workspace_id})",
            kind="accounts",
        )
    for secret in Secret.objects.iterator():
        _rotate_row(
            report,
            row=secret,
            field_name="ciphertext",
            binding=secret.binding,
            label=f"secret {secret.name} (workspace {secret.workspace_id})",
            kind="secrets",
        )
    if settings.REDIS_URL:
        _rotate_cached_tokens(report)
    return report


def _rotate_row(
    report: RotationReport,
    *,
    row: Account | Secret,
    field_name: str,
    binding: crypto.Binding,
    label: str,
    kind: str,
) -> None:
    stored = getattr(row, field_name)
    if crypto.is_current(stored):
        report.already_current += 1
        return
    try:
        plaintext = crypto.decrypt(stored, binding=binding)
    except DecryptionError as error:
        report.failures.append(str(error.about(f"The {label}")))
        return
    # Only if nobody replaced the value meanwhile: a concurrent edit wins.
    updated = (
        type(row)
        .objects.filter(pk=row.pk, **{field_name: stored})
        .update(**{field_name: crypto.encrypt(plaintext, binding=binding)})
    )
    if updated:
        setattr(report, kind, getattr(report, kind) + 1)


def _rotate_cached_tokens(report: RotationReport) -> None:
    """Re-encrypt the access tokens cached in Redis, keeping their time to live. Tokens this
    installation cannot read (another key set) are left alone: they expire on their own."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=token_key_prefix() + "*", count=500):
        raw = client.get(key)
        if raw is None or key.endswith(b":lock"):
            continue
        try:
            token = Token.from_json(raw)
            if crypto.is_current(token.value):
                continue
            fresh = Token(
                encrypt_token(decrypt_token(token.value)), token.expires_at, token.refresh_at
            )
        except (AuthError, ValueError, KeyError, TypeError, json.JSONDecodeError):
            continue
        if client.set(key, fresh.to_json(), keepttl=True, xx=True):
            report.tokens += 1
