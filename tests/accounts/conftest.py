"""Fixtures for credentials: a token authority on 127.0.0.1 and one account of every type."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwk

from tests.servers import LocalServer, RecordedRequest, Reply, json_reply
from tests.signature_servers import SignatureVerifier
from tests.token_servers import TokenIssuer

CLIENT_ID = "enrich-client"
USERNAME = "ada"
API_KEY_HEADER = "X-API-Key"
HMAC_KEY_ID = "enrich-key-1"


def ec_private_pem() -> str:
    """A fresh P-256 private key (fast to make, unique per test: a good canary too)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def database_dump() -> str:
    """Every row of every table, as the database returns it (to search for canaries)."""
    from django.db import connection

    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            dump.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(dump)


def canary(label: str) -> str:
    """A unique value that must never show up anywhere but in encrypted form."""
    return f"canary-{label}-{secrets.token_hex(12)}"


@dataclass
class TokenAuthority:
    """A ``LocalServer`` with every token endpoint the auth types talk to, and an API that
    accepts only what they issued (or the right API key, or a good HMAC signature)."""

    server: LocalServer
    issuer: TokenIssuer
    client_secret: str
    password: str
    api_key: str
    bearer_pem: str
    hmac_secret: str
    signatures: SignatureVerifier
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.server.url(path)

    def every_type(self) -> dict[str, dict[str, Any]]:
        """One valid auth document per registered type, secrets included."""
        return {
            "none": {"type": "none"},
            "api_key": {"type": "api_key", "key": API_KEY_HEADER, "value": self.api_key},
            "hmac_signature": {
                "type": "hmac_signature",
                "secret": self.hmac_secret,
                "signature_prefix": "sha256=",
                "key_id": HMAC_KEY_ID,
            },
            "static": {
                "type": "static",
                "headers": {"X-Static-Token": canary("static-header")},
                "username": USERNAME,
                "password": canary("static-password"),
            },
            "oauth_client_credentials": {
                "type": "oauth_client_credentials",
                "token_url": self.url("/oauth/token"),
                "client_id": CLIENT_ID,
                "client_secret": self.client_secret,
            },
            "jwt": {
                "type": "jwt",
                "private_key": ec_private_pem(),
                "algorithm": "ES256",
                "claims": {"sub": "{{ row.email }}", "exp": "{{ now(300) }}"},
            },
            "oauth_jwt_bearer": {
                "type": "oauth_jwt_bearer",
                "token_url": self.url("/jwt-bearer/token"),
                "client_id": CLIENT_ID,
                "private_key": self.bearer_pem,
                "subject": "service@example.test",
                "audience": self.url("/jwt-bearer/token"),
                "algorithm": "ES256",
            },
            "jwt_token_endpoint": {
                "type": "jwt_token_endpoint",
                "token_endpoint": self.url("/login"),
                "username": USERNAME,
                "password": self.password,
                "token_location": "data.access_token",
            },
        }


def _api_key_checker(expected: str) -> Callable[[RecordedRequest], Reply]:
    def handle(request: RecordedRequest) -> Reply:
        if request.header(API_KEY_HEADER) != expected:
            return Reply.json({"error": "bad key"}, status=401)
        return Reply.json({"ok": True, "who": "api-key"})

    return handle


@pytest.fixture
def authority() -> Iterator[TokenAuthority]:
    issuer = TokenIssuer(lifetime_s=3600)
    bearer_pem = ec_private_pem()
    public = jwk.JWK.from_pem(bearer_pem.encode()).export_public(as_dict=True)
    hmac_secret = canary("hmac-secret")
    authority = TokenAuthority(
        server=LocalServer(),
        issuer=issuer,
        client_secret=canary("client-secret"),
        password=canary("password"),
        api_key=canary("api-key"),
        bearer_pem=bearer_pem,
        hmac_secret=hmac_secret,
        signatures=SignatureVerifier(secret=hmac_secret, prefix="sha256=", key_id=HMAC_KEY_ID),
    )
    server = authority.server
    server.route(
        "/oauth/token",
        issuer.oauth_endpoint(client_id=CLIENT_ID, client_secret=authority.client_secret),
    )
    server.route(
        "/jwt-bearer/token",
        issuer.jwt_bearer_endpoint(verifying_key=jwk.JWK(**public), algorithm="ES256"),
    )
    server.route(
        "/login",
        issuer.password_endpoint(
            username=USERNAME,
            password=authority.password,
            wrap=lambda token: {"data": {"access_token": token}},
        ),
    )
    server.route("/api/me", issuer.protected(json_reply({"ok": True, "who": "token"})))
    server.route("/api/key", _api_key_checker(authority.api_key))
    server.route("/api/signed", authority.signatures.endpoint())
    server.route("/api/open", json_reply({"ok": True}))
    with server:
        yield authority
