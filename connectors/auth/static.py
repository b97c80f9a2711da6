"""Credentials that never change: an API key, fixed headers, HTTP Basic."""

from __future__ import annotations

from collections.abc import Generator
from typing import Literal

import httpx
from pydantic import Field, field_validator, model_validator

from connectors.auth.base import (
    AuthConfig,
    AuthOptions,
    CredentialAuth,
    auth_types,
    basic_credential,
    secret_field,
)
from connectors.auth.presentation import FieldPresentation
from connectors.config import valid_header_name, valid_header_value
from connectors.templating import TemplateContext


class ApiKeyConfig(AuthConfig):
    """An API key sent in a header (``X-API-Key: …``) or the query (``?api_key=…``)."""

    type: Literal["api_key"] = "api_key"
    key: str = Field(min_length=1, description="Header or query parameter name, e.g. X-API-Key.")
    value: str = secret_field(min_length=1, description="The API key.")
    location: Literal["header", "query"] = Field(
        default="header", alias="in", description="Where the key goes: header or query."
    )

    @model_validator(mode="after")
    def _header_name_is_valid(self) -> ApiKeyConfig:
        if self.location == "header":
            valid_header_name(self.key)
            valid_header_value(self.value, name="An API key sent in a header")
        return self

    def key_credentials(self) -> dict[str, str]:
        return {"value": self.value}


@auth_types.register
class ApiKeyAuth(CredentialAuth):
    """Adds the key to every request for the endpoint's origin."""

    type_name = "api_key"
    config_model = ApiKeyConfig
    label = "API key"
    description = "A key sent in a header (X-API-Key: …) or a query parameter (?api_key=…)."
    order = 10
    field_presentation = {
        "key": FieldPresentation(label="Header or parameter name", example="X-API-Key"),
        "value": FieldPresentation(label="API key"),
        "location": FieldPresentation(label="Send the key in"),
    }
    model_error_field = "key"

    def __init__(
        self,
        config: ApiKeyConfig,
        *,
        context: TemplateContext | None = None,
        options: AuthOptions | None = None,
    ) -> None:
        super().__init__(config)
        self.key, self.value, self.location = config.key, config.value, config.location
        if config.location == "header":
            self.credential_headers = frozenset({config.key.lower()})
        else:
            self.credential_query_params = frozenset({config.key})

    def secret_values(self) -> frozenset[str]:
        return frozenset({self.value})

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.location == "header":
            request.headers[self.key] = self.value
        else:
            request.url = request.url.copy_set_param(self.key, self.value)
        yield request


class StaticConfig(AuthConfig):
    """Fixed headers (a permanent bearer token, a custom header) and/or HTTP Basic."""

    type: Literal["static"] = "static"
    headers: dict[str, str] = secret_field(
        default_factory=dict,
        description='Header name → value, e.g. {"Authorization": "Bearer sk_live_…"}.',
    )
    username: str = Field(default="", description="HTTP Basic user name (optional).")
    password: str = secret_field(default="", description="HTTP Basic password.")

    @field_validator("headers")
    @classmethod
    def _header_names_are_valid(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            valid_header_name(name)
            valid_header_value(value, name=f"The value of {name}")
        return headers

    @model_validator(mode="after")
    def _something_to_send(self) -> StaticConfig:
        if not self.headers and not self.username:
            raise ValueError("Give at least one header or an HTTP Basic user name.")
        if self.username and any(name.lower() == "authorization" for name in self.headers):
            raise ValueError("Use either an Authorization header or HTTP Basic, not both.")
        return self


@auth_types.register
class StaticAuth(CredentialAuth):
    """Adds the same headers to every request (what Clay's standard HTTP API account holds)."""

    type_name = "static"
    config_model = StaticConfig
    label = "Static headers / HTTP Basic"
    description = "Fixed headers, e.g. Authorization: Bearer sk_live_…, and/or HTTP Basic."
    order = 20
    field_presentation = {
        "headers": FieldPresentation(
            label="Headers", example='{"Authorization": "Bearer sk_live_…"}'
        ),
    }

    def __init__(
        self,
        config: StaticConfig,
        *,
        context: TemplateContext | None = None,
        options: AuthOptions | None = None,
    ) -> None:
        super().__init__(config)
        self.headers = dict(config.headers)
        if config.username:
            self.headers["Authorization"] = basic_credential(config.username, config.password)
        self.credential_headers = frozenset(name.lower() for name in self.headers)
        self._secrets = frozenset(
            value for value in (*config.headers.values(), config.password) if value
        ) | {self.headers.get("Authorization", "")} - {""}

    def secret_values(self) -> frozenset[str]:
        return self._secrets

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.headers)
        yield request
