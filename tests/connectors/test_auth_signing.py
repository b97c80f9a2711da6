"""Every algorithm signs a JWT that an independent library (jwcrypto) verifies."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk, jws

from connectors.auth.signing import (
    ALGORITHMS,
    check_jwt_headers,
    check_signing_key,
    jwt_bearer_assertion,
    numeric_dates,
    sign_jwt,
)
from connectors.errors import ConfigError

HMAC_SECRET = "s" * 64


def pem(private_key) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    rsa_key = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return {
        "HS": HMAC_SECRET,
        "RS": rsa_key,
        "PS": rsa_key,
        "ES256": pem(ec.generate_private_key(ec.SECP256R1())),
        "ES384": pem(ec.generate_private_key(ec.SECP384R1())),
        "ES512": pem(ec.generate_private_key(ec.SECP521R1())),
        "EdDSA": pem(ed25519.Ed25519PrivateKey.generate()),
    }


def key_for(keys: dict[str, str], algorithm: str) -> str:
    return keys.get(algorithm) or keys[algorithm[:2]]


def verifying_jwk(private_text: str, algorithm: str) -> jwk.JWK:
    """The public half (or the shared secret) as jwcrypto sees it, built from the raw text."""
    if algorithm.startswith("HS"):
        return jwk.JWK(kty="oct", k=jwk.base64url_encode(private_text.encode()))
    private = jwk.JWK.from_pem(private_text.encode())
    return jwk.JWK(**json.loads(private.export_public()))


def verified_claims(token: str, private_text: str, algorithm: str) -> dict:
    verifier = jws.JWS()
    verifier.deserialize(token)
    verifier.verify(verifying_jwk(private_text, algorithm), alg=algorithm)
    return json.loads(verifier.payload)


def test_there_are_thirteen_algorithms() -> None:
    assert len(ALGORITHMS) == 13


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm_signs_a_token_jwcrypto_verifies(keys, algorithm: str) -> None:
    private_text = key_for(keys, algorithm)
    signing_key = check_signing_key(private_text, algorithm)
    assert signing_key.warnings == []

    token = sign_jwt(
        {"sub": "row-7", "iat": "1700000000", "exp": "1700003600"},
        signing_key,
        headers={"kid": "key-1"},
    )

    verifier = jws.JWS()
    verifier.deserialize(token)
    verifier.verify(verifying_jwk(private_text, algorithm), alg=algorithm)
    assert verifier.jose_header["alg"] == algorithm
    assert verifier.jose_header["kid"] == "key-1"
    claims = json.loads(verifier.payload)
    assert claims == {"sub": "row-7", "iat": 1700000000, "exp": 1700003600}


def test_a_token_signed_with_another_key_does_not_verify(keys) -> None:
    token = sign_jwt({"sub": "x"}, check_signing_key(keys["ES256"], "ES256"))
    other = pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(jws.InvalidJWSSignature):
        verified_claims(token, other, "ES256")


@pytest.mark.parametrize(
    ("key_name", "algorithm", "message"),
    [
        ("RS", "ES256", "ES256 needs an EC private key; this is an RSA key"),
        ("ES384", "ES256", "ES256 needs a key on curve secp256r1; this key is on secp384r1"),
        ("ES256", "RS256", "RS256 needs an RSA private key; this is an EC key on secp256r1"),
        ("RS", "EdDSA", "EdDSA needs an Ed25519 or Ed448 private key"),
        ("RS", "HS256", "HS256 signs with a shared secret, not a PEM key"),
    ],
)
def test_a_key_that_does_not_fit_the_algorithm_is_a_clear_config_error(
    keys, key_name: str, algorithm: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_signing_key(keys[key_name], algorithm)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not a key", "not a valid PEM"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not a valid PEM"),
        ("", "needs a private key"),
    ],
)
def test_a_broken_pem_is_a_clear_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_signing_key(text, "RS256")


def test_an_unknown_algorithm_is_named() -> None:
    with pytest.raises(ConfigError, match="Unsupported algorithm “none”"):
        check_signing_key(HMAC_SECRET, "none")


def test_a_public_key_instead_of_a_private_key_is_named(keys) -> None:
    private = serialization.load_pem_private_key(keys["RS"].encode(), password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigError, match="this is a public key"):
        check_signing_key(public.decode(), "RS256")


def test_an_encrypted_pem_asks_for_the_key_without_passphrase() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    with pytest.raises(ConfigError, match="encrypted"):
        check_signing_key(encrypted, "RS256")


def test_weak_keys_are_warned_about_not_refused() -> None:
    short_secret = check_signing_key("short", "HS256")
    small_rsa = check_signing_key(
        pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505
        "RS256",
    )
    assert short_secret.warnings == [
        "This secret has 5 bytes; HS256 should have at least 32 random bytes."
    ]
    assert small_rsa.warnings == ["This RSA key has 1024 bits; use at least 2048 bits."]
    # jwcrypto refuses keys this short, so check the MAC with the standard library.
    header, payload, signature = sign_jwt({"a": 1}, short_secret).split(".")
    expected = hmac.new(b"short", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert signature == jwk.base64url_encode(expected)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"exp": "1700000000", "sub": "42"}, {"exp": 1700000000, "sub": "42"}),
        ({"iat": " 1700000000 ", "nbf": 1700000000.9}, {"iat": 1700000000, "nbf": 1700000000}),
        ({"exp": 5}, {"exp": 5}),
    ],
)
def test_numeric_date_claims_become_integers_and_nothing_else_changes(claims, expected) -> None:
    assert numeric_dates(claims) == expected


def test_a_non_numeric_exp_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="“exp” claim must be a number of seconds"):
        numeric_dates({"exp": "tomorrow"})


def test_the_rfc7523_assertion_carries_the_required_claims(keys) -> None:
    signing_key = check_signing_key(keys["RS"], "RS256")
    token = jwt_bearer_assertion(
        issuer="client-1",
        subject="user@example.test",
        audience="https://auth.example.test/token",
        signing_key=signing_key,
        headers={"kid": "k1"},
        additional_claims={"scope": "read", "iss": "overridden"},
        now=1_700_000_000,
    )

    claims = verified_claims(token, keys["RS"], "RS256")
    assert claims["iss"] == "client-1"
    assert claims["sub"] == "user@example.test"
    assert claims["aud"] == "https://auth.example.test/token"
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] == 1_700_000_180
    assert claims["scope"] == "read"
    again = jwt_bearer_assertion(
        issuer="client-1", subject="s", audience="a", signing_key=signing_key
    )
    assert verified_claims(again, keys["RS"], "RS256")["jti"] != claims["jti"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"kid": 5}, "“kid” JWT header must be text"),
        ({"kid": None}, "“kid” JWT header must be text"),
        ({"typ": ["JWT"]}, "“typ” JWT header must be text"),
        ({"alg": "none"}, "“alg” JWT header is set by the algorithm field"),
        ({"alg": "HS256"}, "“alg” JWT header is set by the algorithm field"),
        ({"b64": False}, "“b64” JWT header"),
        ({"crit": ["b64"]}, "“crit” JWT header is not supported"),
        ({"x5c": "MIIB"}, "“x5c” JWT header must be a list"),
        ({"": "x"}, "A JWT header needs a name"),
        ({"x-note": float("nan")}, "plain JSON values"),
        ({"x-note": "n" * 3000}, "longer than 2048 characters"),
    ],
)
def test_jwt_headers_that_cannot_be_signed_are_refused_up_front(headers, message) -> None:
    with pytest.raises(ConfigError, match=message):
        check_jwt_headers(headers)
    # Headers saved before the check existed still end as a ConfigError, never PyJWT's error.
    with pytest.raises(ConfigError):
        sign_jwt({"sub": "a"}, check_signing_key(HMAC_SECRET, "HS256"), headers=headers)


def test_ordinary_jwt_headers_pass_and_reach_the_token(keys) -> None:
    headers = {"kid": "key-1", "typ": "JWT", "x5c": ["MIIB"], "x-tenant": {"id": 7}}
    assert check_jwt_headers(headers) == headers
    token = sign_jwt({"sub": "a"}, check_signing_key(HMAC_SECRET, "HS256"), headers=headers)
    header = json.loads(jws.base64url_decode(token.split(".")[0]))
    assert header == {"alg": "HS256", **headers}
