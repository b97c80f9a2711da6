"""Signing JWTs: checking that a key fits its algorithm, and the RFC 7523 client assertion.

Every key problem is found when an account is saved (``check_signing_key``), not on the first
request: a PEM that does not parse, an RSA key given for ES256, an EC key on the wrong curve.
Weak keys are allowed but come back as warnings the form shows.
"""

from __future__ import annotations

import json
import secrets
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm as UnsupportedAlgorithmError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from connectors.errors import ConfigError

# Weak keys are reported once, when the account is saved (``SigningKey.warnings``); PyJWT's own
# warning on every signature would only fill the worker logs.
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
ALGORITHMS = (*HMAC_ALGORITHMS, *RSA_ALGORITHMS, *EC_ALGORITHMS, "EdDSA")

# RFC 7518 §3.4: each ES algorithm names one curve.
EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
RSA_MIN_BITS = 2048
#: Claims that are NumericDate (RFC 7519 sections 4.1.4 to 4.1.6): a template renders them as text.
NUMERIC_DATE_CLAIMS = ("exp", "iat", "nbf")


@dataclass
class SigningKey:
    """A key ready for PyJWT, with the warnings worth showing when it was loaded."""

    algorithm: str
    key: Any = field(repr=False)
    warnings: list[str] = field(default_factory=list)


def check_signing_key(private_key: str, algorithm: str) -> SigningKey:
    """Load ``private_key`` for ``algorithm`` or raise a ``ConfigError`` saying what is wrong."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(
            f"Unsupported algorithm “{algorithm}”; choose one of {', '.join(ALGORITHMS)}."
        )
    if not private_key or not private_key.strip():
        raise ConfigError(
            f"{algorithm} needs a {'secret' if algorithm in HMAC_ALGORITHMS else 'private key'}."
        )
    if algorithm in HMAC_ALGORITHMS:
        return _hmac_key(private_key, algorithm)
    key = _load_pem(private_key, algorithm)
    warnings: list[str] = []
    if algorithm in RSA_ALGORITHMS:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"{algorithm} needs an RSA private key; this is {_describe(key)}.")
        if key.key_size < RSA_MIN_BITS:
            warnings.append(
                f"This RSA key has {key.key_size} bits; use at least {RSA_MIN_BITS} bits."
            )
    elif algorithm in EC_ALGORITHMS:
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{algorithm} needs an EC private key; this is {_describe(key)}.")
        if key.curve.name != EC_CURVES[algorithm]:
            raise ConfigError(
                f"{algorithm} needs a key on curve {EC_CURVES[algorithm]}; "
                f"this key is on {key.curve.name}."
            )
    elif not isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise ConfigError(f"EdDSA needs an Ed25519 or Ed448 private key; this is {_describe(key)}.")
    return SigningKey(algorithm=algorithm, key=key, warnings=warnings)


@lru_cache(maxsize=256)
def cached_signing_key(private_key: str, algorithm: str) -> SigningKey:
    """``check_signing_key`` once per (key, algorithm) in this process: parsing an RSA PEM
    costs about a millisecond, and a column signs one JWT per row."""
    return check_signing_key(private_key, algorithm)


def _hmac_key(secret: str, algorithm: str) -> SigningKey:
    if "-----BEGIN" in secret:
        raise ConfigError(
            f"{algorithm} signs with a shared secret, not a PEM key; "
            "pick RS256 or ES256 for a key pair."
        )
    raw = secret.encode()
    warnings = []
    if len(raw) < HMAC_MIN_BYTES[algorithm]:
        warnings.append(
            f"This secret has {len(raw)} bytes; {algorithm} should have at least "
            f"{HMAC_MIN_BYTES[algorithm]} random bytes."
        )
    return SigningKey(algorithm=algorithm, key=raw, warnings=warnings)


def _load_pem(text: str, algorithm: str) -> Any:
    data = text.strip().encode()
    if b"PUBLIC KEY" in data and b"PRIVATE KEY" not in data:
        raise ConfigError(f"{algorithm} signs with a private key; this is a public key.")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError("The private key is encrypted; paste it without a passphrase.") from None
    except (ValueError, UnsupportedAlgorithmError):
        raise ConfigError(
            "The private key is not a valid PEM "
            "(it should start with “-----BEGIN PRIVATE KEY-----”)."
        ) from None


def _describe(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"an RSA key ({key.key_size} bits)"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC key on {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "an Ed25519 key"
    if isinstance(key, ed448.Ed448PrivateKey):
        return "an Ed448 key"
    return f"a {type(key).__name__}"


def numeric_dates(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Claims with ``exp``/``iat``/``nbf`` as integers when a template rendered them as text."""
    result = dict(claims)
    for name in NUMERIC_DATE_CLAIMS:
        value = result.get(name)
        if isinstance(value, str):
            try:
                result[name] = int(float(value.strip()))
            except ValueError:
                raise ConfigError(
                    f"The “{name}” claim must be a number of seconds (got “{value}”)."
                ) from None
        elif isinstance(value, float):
            result[name] = int(value)
    return result


#: JOSE header fields Enrich sets or does not support: ``alg`` follows the algorithm field (a
#: header saying otherwise would make PyJWT sign with another algorithm, or with "none"), and
#: ``b64``/``crit`` (RFC 7797) change how the token is encoded, which no API expects from a
#: bearer token.
RESERVED_JWT_HEADERS = {
    "alg": "is set by the algorithm field",
    "b64": "(an unencoded payload, RFC 7797) is not supported",
    "crit": "is not supported",
}
#: RFC 7515 section 4.1: these header parameters are strings (``x5c`` a list of strings).
TEXT_JWT_HEADERS = ("kid", "typ", "cty", "jku", "x5u", "x5t", "x5t#S256")
#: A JWT header rides in every request's Authorization header; servers refuse big ones.
JWT_HEADERS_MAX_CHARS = 2048


def check_jwt_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """``headers`` if PyJWT can sign with them, else a ``ConfigError`` naming the field: every
    value that would only fail when the first JWT is signed is refused when it is saved."""
    for name, value in headers.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("A JWT header needs a name.")
        if name in RESERVED_JWT_HEADERS:
            raise ConfigError(f"The “{name}” JWT header {RESERVED_JWT_HEADERS[name]}; remove it.")
        if name in TEXT_JWT_HEADERS and not (isinstance(value, str) and value.strip()):
            raise ConfigError(f"The “{name}” JWT header must be text, e.g. “key-1”.")
        if name == "x5c" and not (
            isinstance(value, list) and value and all(isinstance(item, str) for item in value)
        ):
            raise ConfigError("The “x5c” JWT header must be a list of base64 certificates.")
    try:
        size = len(json.dumps(dict(headers), allow_nan=False))
    except (TypeError, ValueError):
        raise ConfigError("The JWT headers must be plain JSON values.") from None
    if size > JWT_HEADERS_MAX_CHARS:
        raise ConfigError(f"The JWT headers are longer than {JWT_HEADERS_MAX_CHARS} characters.")
    return dict(headers)


def valid_jwt_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """``check_jwt_headers`` as a pydantic validator (a ``ValueError`` with the message)."""
    try:
        return check_jwt_headers(headers)
    except ConfigError as exc:
        raise ValueError(exc.message) from None


def sign_jwt(
    claims: Mapping[str, Any], signing_key: SigningKey, *, headers: Mapping[str, Any] | None = None
) -> str:
    """A compact JWS of ``claims`` signed with ``signing_key``; ``headers`` adds ``kid`` etc.

    Headers and claims are checked when an account is saved; one saved before a check existed
    still ends as a ``ConfigError`` (a cell error), never as PyJWT's exception.
    """
    checked = check_jwt_headers(headers or {})
    try:
        return jwt.encode(
            numeric_dates(claims), signing_key.key, algorithm=signing_key.algorithm, headers=checked
        )
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        # PyJWT's messages name the problem, never the key; claims may carry row values.
        raise ConfigError(f"The JWT could not be signed: {type(exc).__name__}.") from None


def jwt_bearer_assertion(
    *,
    issuer: str,
    subject: str,
    audience: str,
    signing_key: SigningKey,
    headers: Mapping[str, Any] | None = None,
    additional_claims: Mapping[str, Any] | None = None,
    lifetime_s: int = 180,
    now: float | None = None,
) -> str:
    """The JWT a client posts as ``assertion`` in the RFC 7523 JWT-bearer grant.

    RFC 7523 §3: "The JWT MUST contain an "iss" (issuer) claim", "a "sub" (subject) claim",
    "an "aud" (audience) claim" identifying the authorization server, and "an "exp"
    (expiration time) claim that limits the time window during which the JWT can be used";
    it "MAY contain a "jti" (JWT ID) claim" — sent here so servers can refuse a replay.
    """
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = dict(additional_claims or {})
    claims.update(
        iss=issuer,
        sub=subject,
        aud=audience,
        iat=issued,
        exp=issued + lifetime_s,
        jti=secrets.token_urlsafe(16),
    )
    return sign_jwt(claims, signing_key, headers=headers)
