"""Signing key pairs made in the app, and the public keys an API fetches from the JWKS URL.

The private key goes straight into the account's encrypted secrets; only the public half is
kept in clear (``Account.public_jwk``), so the public JWKS endpoint never decrypts anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from connectors.auth import check_signing_key
from connectors.auth.signing import HMAC_ALGORITHMS

#: What "Generate a key pair" offers: the algorithm the account switches to → the key made.
KEY_PAIR_ALGORITHMS = {
    "RS256": "RSA 2048",
    "ES256": "EC P-256",
    "EdDSA": "Ed25519",
}

# RFC 7638 §3.2: the thumbprint hashes only the required members, in lexicographic order.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


@dataclass(frozen=True)
class KeyPair:
    """A new private key (PEM, PKCS#8) and its public JWK (``kid`` = RFC 7638 thumbprint)."""

    algorithm: str
    private_pem: str
    public_jwk: dict[str, Any]


def generate_key_pair(algorithm: str) -> KeyPair:
    """A fresh key for ``algorithm``: RS256 → RSA 2048, ES256 → EC P-256, EdDSA → Ed25519."""
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"choose one of {', '.join(KEY_PAIR_ALGORITHMS)}")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return KeyPair(algorithm=algorithm, private_pem=pem, public_jwk=public_jwk(pem, algorithm))


def public_jwk(private_pem: str, algorithm: str, *, kid: str | None = None) -> dict[str, Any]:
    """The public JWK of an asymmetric private key, with ``alg``, ``use`` and ``kid`` (the
    thumbprint unless given). ``ValueError`` for an HMAC algorithm: a shared secret has no
    public half."""
    if algorithm in HMAC_ALGORITHMS:
        raise ValueError("an HMAC secret has no public key")
    key = check_signing_key(private_pem, algorithm).key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    else:  # pragma: no cover - check_signing_key admits no other key types
        raise ValueError("unsupported key type")
    jwk = {name: jwk[name] for name in sorted(jwk)}
    return {**jwk, "alg": algorithm, "use": "sig", "kid": kid or jwk_thumbprint(jwk)}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): a stable ``kid`` for a public key."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_pem(jwk: dict[str, Any]) -> str:
    """The PEM (SubjectPublicKeyInfo) of a public JWK, for APIs that want a pasted key."""
    text = json.dumps(jwk)
    key: Any
    if jwk["kty"] == "RSA":
        key = RSAAlgorithm.from_jwk(text)
    elif jwk["kty"] == "EC":
        key = ECAlgorithm.from_jwk(text)
    else:
        key = OKPAlgorithm.from_jwk(text)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
