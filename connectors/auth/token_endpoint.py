"""JWT from a token endpoint — Clay's "HTTP API with JWT Authentication".

The account holds a user name and password and the endpoint that trades them for a JWT; the
column says where the JWT is in the answer (a dot path), the prefix (``Bearer``) and the
header that carries it. The JWT lives until its own ``exp`` when it has one, else the answer's
``expires_in``, else 55 minutes, and is refreshed before that.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from connectors.auth.base import (
    AuthConfig,
    AuthOptions,
    auth_types,
    basic_credential,
    secret_field,
)
from connectors.auth.presentation import Capabilities, FieldPresentation
from connectors.auth.token_response import parse_path, token_at_path, token_lifetime
from connectors.auth.token_store import Token
from connectors.auth.tokens import TokenAuth, endpoint_label, request_token
from connectors.config import valid_header_name
from connectors.templating import TemplateContext


class ColumnTokenFields(BaseModel):
    """The part of a JWT-token-endpoint setup that belongs to the column (as in Clay): where
    the token is in the answer, its prefix and the header that carries it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_location: str = Field(
        default="access_token",
        description="Dot path to the JWT in the answer, e.g. access_token or data.token.",
    )
    token_type: str = Field(default="Bearer", description="Prefix before the JWT; empty: none.")
    auth_header_name: str = Field(default="Authorization", description="Header for the JWT.")

    @field_validator("token_location")
    @classmethod
    def _path(cls, path: str) -> str:
        if not parse_path(path):
            raise ValueError("give the dot path to the token, e.g. access_token or data.token")
        return path.strip()

    @field_validator("token_type")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        prefix = prefix.strip()
        if not prefix.isascii() or any(char.isspace() or not char.isprintable() for char in prefix):
            raise ValueError("the token type is one word, e.g. Bearer or JWT (or empty)")
        return prefix

    @field_validator("auth_header_name")
    @classmethod
    def _header_name(cls, name: str) -> str:
        return valid_header_name(name)


class JwtTokenEndpointConfig(AuthConfig, ColumnTokenFields):
    type: Literal["jwt_token_endpoint"] = "jwt_token_endpoint"
    token_endpoint: HttpUrl = Field(description="Where the user name and password are posted.")
    username: str = Field(min_length=1)
    password: str = secret_field(min_length=1)
    credentials_in: Literal["json", "form", "basic"] = Field(
        default="json",
        description="Send the credentials as a JSON body, a form body or HTTP Basic.",
    )
    username_field: str = Field(default="username", min_length=1)
    password_field: str = Field(default="password", min_length=1)
    refresh_statuses: tuple[int, ...] = Field(default=(401,))

    def endpoint_urls(self) -> tuple[str, ...]:
        return (str(self.token_endpoint),)


@auth_types.register
class JwtTokenEndpoint(TokenAuth):
    """Logs in at the token endpoint once for every worker and sends the JWT it returns."""

    type_name = "jwt_token_endpoint"
    config_model = JwtTokenEndpointConfig
    label = "JWT from a token endpoint"
    description = (
        "A user name and password posted to a login endpoint; the JWT it answers is cached "
        "and sent."
    )
    order = 60
    field_presentation = {
        "token_location": FieldPresentation(example="data.access_token"),
        "token_type": FieldPresentation(label="Token type (prefix)"),
        "auth_header_name": FieldPresentation(label="Header name"),
        "token_endpoint": FieldPresentation(
            label="Token endpoint", example="https://api.example.com/auth/login"
        ),
        "username": FieldPresentation(help="The user name posted to the token endpoint."),
        "password": FieldPresentation(help="The password posted to the token endpoint."),
        "credentials_in": FieldPresentation(label="Send credentials as", advanced=True),
        "username_field": FieldPresentation(
            help="The JSON or form field that carries the user name.", advanced=True
        ),
        "password_field": FieldPresentation(
            help="The JSON or form field that carries the password.", advanced=True
        ),
    }
    capabilities = Capabilities(fetches_token=True, column_fields=ColumnTokenFields)

    config: JwtTokenEndpointConfig

    def __init__(
        self,
        config: JwtTokenEndpointConfig,
        *,
        context: TemplateContext | None = None,
        options: AuthOptions,
    ) -> None:
        super().__init__(
            config,
            options=options,
            key_parts=(
                str(config.token_endpoint),
                config.username,
                config.password,
                config.credentials_in,
                config.username_field,
                config.password_field,
                config.token_location,
            ),
            credentials=(config.password, basic_credential(config.username, config.password)),
            header_name=config.auth_header_name,
            token_type=config.token_type,
            refresh_statuses=frozenset(config.refresh_statuses),
        )
        self.credential_body_fields = frozenset({config.password_field})

    def fetch(self) -> Token:
        config = self.config
        url = str(config.token_endpoint)
        fields = {config.username_field: config.username, config.password_field: config.password}
        payload = request_token(
            client=self.client,
            url=url,
            json_body=fields if config.credentials_in == "json" else None,
            form=fields if config.credentials_in == "form" else None,
            basic=(config.username, config.password) if config.credentials_in == "basic" else None,
            timeout_s=self.timeout_s,
        )
        value = token_at_path(payload, config.token_location, endpoint=endpoint_label(url))
        return Token.issued(value, lifetime_s=token_lifetime(value, payload))
