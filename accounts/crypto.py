"""Encryption at rest for credentials: AES-256-GCM under keys from ``ENRICH_ENCRYPTION_KEYS``.

A value is stored as ``v1:<key id>:<nonce>:<ciphertext>`` (base64url, no padding). The first
key encrypts; every listed key decrypts, found by its id, so keys can be rotated without
downtime: put the new key first, run ``manage.py rotate_encryption_keys``, then drop the old one.

The workspace, the model, the record and the field are bound into every ciphertext as AES-GCM
associated data (``Binding``): a value copied into another row, record or workspace fails its
authentication tag instead of decrypting there. No message here ever contains key material or
plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from accounts.exceptions import DecryptionError

FORMAT_VERSION = "v1"
NONCE_BYTES = 12  # NIST SP 800-38D §8.2: 96-bit random nonces for GCM
_ENCRYPTION_INFO = b"enrich/accounts/aes-256-gcm/v1"
_KEY_ID_INFO = b"enrich/accounts/key-id/v1"


@dataclass(frozen=True)
class Binding:
    """Where a value belongs; its parts are authenticated with the ciphertext (AES-GCM AAD)."""

    workspace_id: int
    model: str
    record: str
    field: str

    def associated_data(self) -> bytes:
        # Length-prefixed parts: no choice of names can make two bindings serialise the same.
        parts = (FORMAT_VERSION, str(self.workspace_id), self.model, self.record, self.field)
        return b"".join(len(p.encode()).to_bytes(4, "big") + p.encode() for p in parts)


@dataclass(frozen=True)
class _Key:
    key_id: str
    cipher: AESGCM


class Keyring:
    """The configured keys: the first encrypts, all decrypt (looked up by key id)."""

    def __init__(self, fernet_keys: list[str]) -> None:
        if not fernet_keys:
            raise ImproperlyConfigured(
                "ENRICH_ENCRYPTION_KEYS is empty: give at least one Fernet key."
            )
        self.keys = [_derive(raw, position) for position, raw in enumerate(fernet_keys, 1)]
        self._by_id = {key.key_id: key for key in self.keys}
        if len(self._by_id) != len(self.keys):
            raise ImproperlyConfigured("ENRICH_ENCRYPTION_KEYS lists the same key twice.")

    @property
    def current_key_id(self) -> str:
        return self.keys[0].key_id

    def encrypt(self, plaintext: str, *, binding: Binding) -> str:
        key = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.cipher.encrypt(nonce, plaintext.encode(), binding.associated_data())
        return ":".join((FORMAT_VERSION, key.key_id, _b64encode(nonce), _b64encode(sealed)))

    def decrypt(self, stored: str, *, binding: Binding) -> str:
        _, key_id, nonce, sealed = _split(stored)
        key = self._by_id.get(key_id)
        if key is None:
            raise DecryptionError(
                f"It was encrypted with a key (id {key_id}) that is not in "
                "ENRICH_ENCRYPTION_KEYS. Add that key back (after the current one), then run "
                "manage.py rotate_encryption_keys."
            )
        try:
            plaintext = key.cipher.decrypt(nonce, sealed, binding.associated_data())
        except InvalidTag:
            raise DecryptionError(
                "It does not authenticate: the stored value was altered, or it was copied "
                "from another record or workspace."
            ) from None
        return plaintext.decode()

    def key_id_of(self, stored: str) -> str:
        """The id of the key ``stored`` was encrypted with."""
        return _split(stored)[1]


def _derive(fernet_key: str, position: int) -> _Key:
    try:
        raw = base64.urlsafe_b64decode(fernet_key.strip().encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(
            f"ENRICH_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 bytes, url-safe "
            "base64). Generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    # HKDF (RFC 5869) separates the encryption key from the published key id, and keeps the
    # AES key distinct from what Fernet itself would use the same material for.
    encryption_key = _hkdf(raw, _ENCRYPTION_INFO, 32)
    key_id = _hkdf(raw, _KEY_ID_INFO, 4).hex()
    return _Key(key_id=key_id, cipher=AESGCM(encryption_key))


def _hkdf(material: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(material)


def _split(stored: str) -> tuple[str, str, bytes, bytes]:
    parts = stored.split(":") if isinstance(stored, str) else []
    if len(parts) != 4 or parts[0] != FORMAT_VERSION:
        raise DecryptionError(
            "It is not an encrypted value of this version (expected v1:<key id>:<nonce>:<data>)."
        )
    try:
        nonce, sealed = _b64decode(parts[2]), _b64decode(parts[3])
    except (binascii.Error, ValueError):
        raise DecryptionError("Its encoding is damaged (not base64).") from None
    if len(nonce) != NONCE_BYTES:
        raise DecryptionError("Its nonce is damaged.")
    return parts[0], parts[1], nonce, sealed


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_keyrings: dict[tuple[str, ...], Keyring] = {}
_keyrings_lock = threading.Lock()


def keyring() -> Keyring:
    """The keyring for the current ``settings.ENCRYPTION_KEYS`` (built once per key list)."""
    configured = tuple(settings.ENCRYPTION_KEYS)
    ring = _keyrings.get(configured)
    if ring is None:
        with _keyrings_lock:
            ring = _keyrings.setdefault(configured, Keyring(list(configured)))
    return ring


def encrypt(plaintext: str, *, binding: Binding) -> str:
    """Encrypt ``plaintext`` under the current key, bound to ``binding``."""
    return keyring().encrypt(plaintext, binding=binding)


def decrypt(stored: str, *, binding: Binding) -> str:
    """Decrypt a value stored by ``encrypt`` with the same ``binding``; ``DecryptionError`` if
    the key is gone, the value was altered or it belongs elsewhere."""
    return keyring().decrypt(stored, binding=binding)


def is_current(stored: str) -> bool:
    """Whether ``stored`` is already encrypted under the current (first) key."""
    ring = keyring()
    try:
        return ring.key_id_of(stored) == ring.current_key_id
    except DecryptionError:
        return False
