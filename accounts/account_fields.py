"""How each auth type's fields are presented, read off its pydantic model.

The model says which fields exist, their types, defaults, descriptions and which are secret;
this module adds only what a form needs besides: a readable label, an example, and which
fields are advanced. A field added to a model appears in the form without touching this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args, get_origin

from pydantic import HttpUrl
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from connectors import auth_types
from connectors.auth import ALGORITHMS


class FieldKind(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    URL = "url"
    NUMBER = "number"
    CHOICE = "choice"
    JSON = "json"
    LIST = "list"
    BOOLEAN = "boolean"


#: One line per auth type for the "Add account" picker, in the picker's order.
TYPE_DESCRIPTIONS = {
    "api_key": "A key sent in a header (X-API-Key: …) or a query parameter (?api_key=…).",
    "static": "Fixed headers, e.g. Authorization: Bearer sk_live_…, and/or HTTP Basic.",
    "oauth_client_credentials": "Client id and secret exchanged for an access token, cached "
    "for every worker and refreshed before it expires.",
    "jwt": "A JWT signed for every request from claims templated over the row.",
    "oauth_jwt_bearer": "A signed assertion exchanged for an access token (RFC 7523), as "
    "Google service accounts and Salesforce do.",
    "jwt_token_endpoint": "A user name and password posted to a login endpoint; the JWT it "
    "answers is cached and sent.",
    "none": "Call public APIs with no credentials (rate limits and allowed hosts still apply).",
}

_LABELS = {
    "in": "Send the key in",
    "key": "Header or parameter name",
    "value": "API key",
    "headers": "Headers",
    "token_url": "Token URL",
    "token_endpoint": "Token endpoint",
    "client_id": "Client ID",
    "client_auth": "Client authentication",
    "skew_s": "Refresh margin (seconds)",
    "token_ttl": "Token lifetime (seconds)",
    "jwt_headers": "JWT headers",
    "header_name": "Header name",
    "auth_header_name": "Header name",
    "token_type": "Token type (prefix)",
    "allowed_hosts": "Allowed hosts",
    "refresh_statuses": "Refresh on statuses",
    "extra_params": "Extra token request fields",
    "credentials_in": "Send credentials as",
    "private_key": "Private key",
    "additional_claims": "Additional claims",
}

#: Shown as the placeholder and as "e.g. …" in the help text.
_EXAMPLES = {
    "key": "X-API-Key",
    "token_url": "https://auth.example.com/oauth/token",
    "token_endpoint": "https://api.example.com/auth/login",
    "token_location": "data.access_token",
    "audience": "https://auth.example.com/oauth/token",
    "scope": "read:people read:companies",
    "subject": "service-account@example.com",
    "allowed_hosts": "api.example.com, *.example.com",
    "extra_params": '{"audience": "https://api.example.com"}',
    "additional_claims": '{"scope": "read"}',
    "jwt_headers": '{"kid": "key-1"}',
    "headers": '{"Authorization": "Bearer sk_live_…"}',
    "private_key": "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----",
    "claims": '{"sub": "{{ row.email }}", "exp": "{{ now(300) }}"}',
}

#: Help for fields whose model gives no description.
_FALLBACK_HELP = {
    "client_id": "The client id the authorization server issued.",
    "client_secret": "The client secret the authorization server issued.",
    "username": "The user name posted to the token endpoint.",
    "password": "The password posted to the token endpoint.",
    "algorithm": "How JWTs are signed: HS* with a shared secret, RS*/PS* with an RSA key, "
    "ES* with an EC key, EdDSA with an Ed25519 key.",
    "additional_claims": "More claims for the assertion, as a JSON object.",
    "username_field": "The JSON or form field that carries the user name.",
    "password_field": "The JSON or form field that carries the password.",
    "refresh_statuses": "API statuses that mean the token was refused, e.g. 401.",
}

#: Fields with good defaults, tucked under "Advanced".
_ADVANCED = frozenset(
    {
        "allowed_hosts",
        "skew_s",
        "refresh_statuses",
        "token_ttl",
        "jwt_headers",
        "username_field",
        "password_field",
        "client_auth",
        "extra_params",
        "additional_claims",
        "credentials_in",
    }
)
#: Long values get a text area.
_LONG_TEXT = frozenset({"private_key"})


@dataclass(frozen=True)
class FieldSpec:
    """One field of an auth type as a form shows it."""

    key: str  # the auth document's key (the alias where there is one)
    label: str
    kind: FieldKind
    required: bool
    secret: bool
    advanced: bool
    help_text: str
    example: str
    default: Any
    choices: tuple[str, ...] = ()

    def display(self, value: Any) -> str:
        """A non-secret value as text in a form or a read-only view."""
        if value is None or value is PydanticUndefined:
            return ""
        if self.kind == FieldKind.JSON:
            return json.dumps(value, indent=2, ensure_ascii=False) if value else ""
        if self.kind == FieldKind.LIST:
            return ", ".join(str(item) for item in value)
        return str(value)


def _label(name: str, key: str) -> str:
    return _LABELS.get(key) or _LABELS.get(name) or name.replace("_", " ").capitalize()


def _kind(name: str, info: FieldInfo) -> tuple[FieldKind, tuple[str, ...]]:
    annotation = info.annotation
    origin = get_origin(annotation)
    if name == "algorithm":
        return FieldKind.CHOICE, ALGORITHMS
    if origin is Literal:
        return FieldKind.CHOICE, tuple(str(arg) for arg in get_args(annotation))
    if origin is dict:
        return FieldKind.JSON, ()
    if origin is tuple or origin is list:
        return FieldKind.LIST, ()
    if annotation is bool:
        return FieldKind.BOOLEAN, ()
    if annotation is int or annotation is float:
        return FieldKind.NUMBER, ()
    if annotation is HttpUrl:
        return FieldKind.URL, ()
    return (FieldKind.LONG_TEXT if name in _LONG_TEXT else FieldKind.TEXT), ()


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def field_specs(auth_type: str) -> list[FieldSpec]:
    """The type's fields in the model's order, the common ``allowed_hosts`` last."""
    model = auth_types.get(auth_type).config_model
    secret = set(model.secret_fields())
    specs = []
    for name, info in model.model_fields.items():
        if name == "type":
            continue
        key = info.alias or name
        kind, choices = _kind(name, info)
        example = _EXAMPLES.get(key, "")
        help_text = info.description or _FALLBACK_HELP.get(name, "")
        specs.append(
            FieldSpec(
                key=key,
                label=_label(name, key),
                kind=kind,
                required=info.is_required(),
                secret=name in secret,
                advanced=name in _ADVANCED,
                help_text=help_text,
                example=example,
                default=_default(info),
                choices=choices,
            )
        )
    specs.sort(key=lambda spec: spec.key == "allowed_hosts")
    return specs
