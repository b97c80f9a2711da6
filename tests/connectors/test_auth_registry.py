"""The auth registry: every type describes itself on its class, and the base class owns the
host check, so no registered type — today's or a new one — can send credentials to a host its
account does not allow."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors import Engine, RequestConfig, TemplateContext
from connectors.auth import AuthOptions, CredentialAuth, InMemoryTokenStore, TokenCache, auth_types
from connectors.errors import ConfigError
from tests.connectors.conftest import fast_retry
from tests.servers import LocalServer, echo


def ec_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def one_document_per_type(token_url: str) -> dict[str, dict[str, Any]]:
    """A valid document of every registered type (a new type must add its own here)."""
    key = ec_pem()
    return {
        "none": {"type": "none"},
        "api_key": {"type": "api_key", "key": "X-API-Key", "value": "key-0123456789"},
        "static": {"type": "static", "headers": {"X-Token": "static-0123456789"}},
        "hmac_signature": {"type": "hmac_signature", "secret": "hmac-secret-0123456789"},
        "oauth_client_credentials": {
            "type": "oauth_client_credentials",
            "token_url": token_url,
            "client_id": "c",
            "client_secret": "client-secret-0123",
        },
        "jwt": {"type": "jwt", "private_key": key, "algorithm": "ES256"},
        "oauth_jwt_bearer": {
            "type": "oauth_jwt_bearer",
            "token_url": token_url,
            "client_id": "c",
            "private_key": key,
            "algorithm": "ES256",
            "subject": "s",
            "audience": "a",
        },
        "jwt_token_endpoint": {
            "type": "jwt_token_endpoint",
            "token_endpoint": token_url,
            "username": "ada",
            "password": "password-0123",
        },
    }


def test_every_type_describes_itself() -> None:
    classes = auth_types.types()
    assert [found.type_name for found in classes] != []
    assert len({found.order for found in classes}) == len(classes)
    for found in classes:
        assert found.label and found.description and found.exercise_label, found.type_name
        fields = found.config_model.model_fields
        for klass in found.__mro__:
            for name in vars(klass).get("field_presentation", {}):
                # Shared presentation (a base's) may name fields a type does not have.
                if klass is found:
                    assert name in fields, f"{found.type_name} presents no field {name}"
        if found.model_error_field:
            assert found.model_error_field in fields
        column_fields = found.capabilities.column_fields
        if column_fields is not None:
            assert set(column_fields.model_fields) <= set(fields)
            assert not set(column_fields.model_fields) & set(found.config_model.secret_fields())
        if found.capabilities.signs_with_key_pair:
            assert {"private_key", "algorithm", "jwt_headers"} <= set(fields)


def test_the_picker_order_is_the_types_own() -> None:
    names = [found.type_name for found in auth_types.types()]
    assert names[0] == "api_key" and names[-1] == "none"
    assert sorted(names) == auth_types.names()


def test_every_registered_type_is_refused_for_a_host_not_allowed_before_anything_is_sent(
    engine: Engine, api_server: LocalServer
) -> None:
    api_server.route("/", echo())
    documents = one_document_per_type(api_server.url("/token"))
    assert set(documents) == set(auth_types.names())
    options = AuthOptions(token_cache=TokenCache(InMemoryTokenStore()), http_client=engine.client)
    for name, document in documents.items():
        auth = auth_types.build(
            {**document, "allowed_hosts": ["api.example.com"]},
            context=TemplateContext(),
            options=options,
        )
        assert auth.allowed_hosts == ("api.example.com",)
        config = RequestConfig(endpoint=api_server.url("/"), retry=fast_retry(attempts=1))
        result = engine.send(config, context=TemplateContext(), auth=auth)
        assert result.error is not None and result.error.code == "auth", name
        assert "may only be sent to api.example.com" in result.error.message
    # Not one API request, not one token request.
    assert api_server.count() == 0


def test_a_type_cannot_take_over_the_entry_point_that_checks_the_host() -> None:
    with pytest.raises(TypeError, match="overrides sync_auth_flow"):

        class Careless(CredentialAuth):
            def sync_auth_flow(
                self, request: httpx.Request
            ) -> Generator[httpx.Request, httpx.Response, None]:
                yield request


def test_a_type_must_name_itself_to_register() -> None:
    class Nameless(CredentialAuth):
        type_name = "nameless"

    with pytest.raises(ValueError, match="has no label"):
        auth_types.register(Nameless)
    assert "nameless" not in auth_types.names()


def test_from_config_refuses_another_type_s_config() -> None:
    config = auth_types.parse_config({"type": "none"})
    with pytest.raises(ConfigError, match="'api_key' cannot be built from a 'none' config"):
        auth_types.get("api_key").from_config(
            config, context=TemplateContext(), options=AuthOptions()
        )
