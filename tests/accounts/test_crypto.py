"""Encryption at rest: AES-GCM bound to workspace and record, key ids, rotation, tampering."""

from __future__ import annotations

import base64
import os
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import crypto
from accounts.connection_accounts import account_create, account_document
from accounts.exceptions import DecryptionError
from accounts.models import Account, Secret
from accounts.workspace_secrets import secret_create, secret_value

BINDING = crypto.Binding(7, "accounts.Secret", "API_KEY", "value")


def test_a_value_round_trips_and_is_stored_in_the_documented_format() -> None:
    stored = crypto.encrypt("top secret", binding=BINDING)
    version, key_id, nonce, _ = stored.split(":")
    assert version == "v1"
    assert key_id == crypto.keyring().current_key_id
    assert len(base64.urlsafe_b64decode(nonce + "==")) == 12
    assert "top secret" not in stored
    assert crypto.decrypt(stored, binding=BINDING) == "top secret"


def test_the_same_value_encrypts_differently_each_time() -> None:
    assert crypto.encrypt("x", binding=BINDING) != crypto.encrypt("x", binding=BINDING)


@pytest.mark.parametrize(
    "other",
    [
        crypto.Binding(8, "accounts.Secret", "API_KEY", "value"),  # another workspace
        crypto.Binding(7, "accounts.Secret", "OTHER_KEY", "value"),  # another record
        crypto.Binding(7, "accounts.Account", "API_KEY", "value"),  # another model
        crypto.Binding(7, "accounts.Secret", "API_KEY", "secrets"),  # another field
    ],
)
def test_a_value_moved_elsewhere_does_not_decrypt(other) -> None:
    stored = crypto.encrypt("top secret", binding=BINDING)
    with pytest.raises(DecryptionError) as raised:
        crypto.decrypt(stored, binding=other)
    assert "copied from another record or workspace" in str(raised.value)
    assert "top secret" not in str(raised.value)


def test_a_tampered_value_is_rejected_with_a_clear_error() -> None:
    stored = crypto.encrypt("top secret", binding=BINDING)
    head, data = stored.rsplit(":", 1)
    flipped = data[:-2] + ("A" if data[-2] != "A" else "B") + data[-1]
    with pytest.raises(DecryptionError, match="altered"):
        crypto.decrypt(f"{head}:{flipped}", binding=BINDING)


@pytest.mark.parametrize("stored", ["", "plain text", "v2:abcd:x:y", "v1:abcd:!!:$$", "v1:a:b"])
def test_malformed_values_are_rejected(stored) -> None:
    with pytest.raises(DecryptionError):
        crypto.decrypt(stored, binding=BINDING)


def test_a_value_under_an_unknown_key_names_the_key_id_and_the_fix(settings) -> None:
    stored = crypto.encrypt("top secret", binding=BINDING)
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError) as raised:
        crypto.decrypt(stored, binding=BINDING)
    assert stored.split(":")[1] in str(raised.value)
    assert "rotate_encryption_keys" in str(raised.value)


@pytest.mark.parametrize("bad", ["not-a-key", base64.urlsafe_b64encode(os.urandom(16)).decode()])
def test_a_malformed_key_is_a_configuration_error_naming_its_position(settings, bad) -> None:
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), bad]
    with pytest.raises(ImproperlyConfigured, match="key 2 is not a Fernet key") as raised:
        crypto.encrypt("x", binding=BINDING)
    assert bad not in str(raised.value)


def test_all_keys_decrypt_and_the_first_encrypts(settings) -> None:
    old = settings.ENCRYPTION_KEYS[0]
    stored = crypto.encrypt("top secret", binding=BINDING)
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    assert crypto.decrypt(stored, binding=BINDING) == "top secret"
    assert not crypto.is_current(stored)
    assert crypto.is_current(crypto.encrypt("x", binding=BINDING))


# --- Rotation over the database -----------------------------------------------------------


@pytest.mark.django_db
def test_rotate_then_drop_the_old_key_and_everything_still_decrypts(settings, make_workspace):
    workspace = make_workspace("Rotating")
    account = account_create(
        workspace=workspace,
        name="Key",
        auth_type="api_key",
        fields={"key": "X-API-Key", "value": "rotating-api-key"},
    ).account
    secret_create(workspace=workspace, name="TOKEN", value="rotating-token", created_by=None)
    old_key = settings.ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()

    settings.ENCRYPTION_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "Re-encrypted 1 account(s), 1 secret(s)" in out.getvalue()

    settings.ENCRYPTION_KEYS = [new_key]
    account = Account.objects.get(pk=account.pk)
    assert account_document(account=account)["value"] == "rotating-api-key"
    assert secret_value(workspace_id=workspace.pk, name="TOKEN") == "rotating-token"
    new_id = crypto.keyring().current_key_id
    assert account.secrets_ciphertext.split(":")[1] == new_id
    assert Secret.objects.get(name="TOKEN").ciphertext.split(":")[1] == new_id

    # A second run finds nothing to do.
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "Re-encrypted 0 account(s), 0 secret(s)" in out.getvalue()
    assert "2 already used the current key" in out.getvalue()


@pytest.mark.django_db
def test_rotation_reports_what_it_cannot_decrypt_and_keeps_going(settings, make_workspace):
    a, b = make_workspace("A"), make_workspace("B")
    secret_create(workspace=a, name="GOOD", value="good-value", created_by=None)
    moved = secret_create(workspace=b, name="MOVED", value="moved-value", created_by=None)
    # B's secret copied into A: bound to B, it must not decrypt as A's.
    Secret.objects.create(workspace=a, name="MOVED", ciphertext=moved.ciphertext)
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.ENCRYPTION_KEYS]
    err = StringIO()
    with pytest.raises(CommandError, match="1 value"):
        call_command("rotate_encryption_keys", stdout=StringIO(), stderr=err)
    assert f"secret MOVED (workspace {a.pk}) cannot be decrypted" in err.getvalue()
    assert "moved-value" not in err.getvalue()
    assert secret_value(workspace_id=a.pk, name="GOOD") == "good-value"
    assert secret_value(workspace_id=b.pk, name="MOVED") == "moved-value"


@pytest.mark.django_db
def test_a_secret_copied_into_another_workspace_is_rejected(make_workspace) -> None:
    a, b = make_workspace("A"), make_workspace("B")
    original = secret_create(workspace=b, name="TOKEN", value="b-token-value", created_by=None)
    Secret.objects.create(workspace=a, name="TOKEN", ciphertext=original.ciphertext)
    with pytest.raises(DecryptionError) as raised:
        secret_value(workspace_id=a.pk, name="TOKEN")
    assert "The secret TOKEN cannot be decrypted" in str(raised.value)
    assert "b-token-value" not in str(raised.value)


@pytest.mark.django_db
def test_account_secrets_copied_into_another_account_are_rejected(make_workspace) -> None:
    a, b = make_workspace("A"), make_workspace("B")
    fields = {"key": "X-API-Key", "value": "b-api-key-value"}
    b_account = account_create(workspace=b, name="B", auth_type="api_key", fields=fields).account
    a_account = account_create(
        workspace=a, name="A", auth_type="api_key", fields={**fields, "value": "a-api-key-value"}
    ).account
    Account.objects.filter(pk=a_account.pk).update(secrets_ciphertext=b_account.secrets_ciphertext)
    a_account.refresh_from_db()
    with pytest.raises(DecryptionError, match="The secrets of the account “A” cannot"):
        account_document(account=a_account)


@pytest.mark.django_db
@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the services run)")
def test_rotation_re_encrypts_cached_tokens_in_redis(settings) -> None:
    from accounts.connections import token_cache
    from connectors.auth import Token

    store = token_cache().store
    key = f"rotation-test-{os.getpid()}-{os.urandom(4).hex()}"
    store.put(key, Token.issued("cached-token-value", lifetime_s=600))
    old_key = settings.ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    settings.ENCRYPTION_KEYS = [new_key]
    assert store.get(key).value == "cached-token-value"
    store.discard(key, "cached-token-value")
