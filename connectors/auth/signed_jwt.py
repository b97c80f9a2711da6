"""A JWT signed for every request from templated claims — nothing fetched, nothing cached."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from connectors.auth.base import (
    AuthConfig,
    AuthOptions,
    CredentialAuth,
    auth_types,
    secret_field,
)
from connectors.auth.signing import (
    ALGORITHMS,
    cached_signing_key,
    check_signing_key,
    sign_jwt,
    valid_jwt_headers,
)
from connectors.config import check_json_template, valid_header_name, valid_header_value
from connectors.errors import ConfigError
from connectors.templating import TemplateContext, render_json

#: Signed JWTs each thread remembers for masking. The engine builds a request's result on the
#: thread that sent it, and the answer it shows is the last one, so the JWT to hide is the
#: thread's latest. Remembering every JWT ever signed made each result's masking cost grow with
#: the run (quadratic overall); each one kept costs about 0.2 ms of regex per result.
RECENT_TOKENS_PER_THREAD = 4


class SignedJwtConfig(AuthConfig):
    """Claims are a JSON object whose strings are templates: ``{"sub": "{{ row.id }}",
    "exp": "{{ now(300) }}"}``. ``exp``, ``iat`` and ``nbf`` rendered as text become numbers."""

    type: Literal["jwt"] = "jwt"
    private_key: str = secret_field(min_length=1, description="PEM private key or HMAC secret.")
    algorithm: str = Field(default="RS256")
    claims: dict[str, Any] = Field(
        default_factory=lambda: {"iat": "{{ now() }}", "exp": "{{ now(300) }}"},
        description="The JWT's claims; every value may use {{ row.x }}, get_secret, now(3600).",
    )
    jwt_headers: dict[str, Any] = Field(default_factory=dict, description='e.g. {"kid": "key-1"}')
    header_name: str = Field(default="Authorization", description="Header that carries the JWT.")
    token_type: str = Field(default="Bearer", description="Prefix before the JWT; empty: none.")

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, algorithm: str) -> str:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"choose one of {', '.join(ALGORITHMS)}")
        return algorithm

    @field_validator("claims")
    @classmethod
    def _claims_are_templates(cls, claims: dict[str, Any]) -> dict[str, Any]:
        check_json_template(claims, "claims")
        return claims

    @field_validator("jwt_headers")
    @classmethod
    def _headers_sign(cls, headers: dict[str, Any]) -> dict[str, Any]:
        return valid_jwt_headers(headers)

    @field_validator("header_name")
    @classmethod
    def _header_name(cls, name: str) -> str:
        return valid_header_name(name)

    @field_validator("token_type")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        return valid_header_value(prefix, name="The token type")

    @model_validator(mode="after")
    def _key_fits_algorithm(self) -> SignedJwtConfig:
        try:
            check_signing_key(self.private_key, self.algorithm)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return self

    def key_credentials(self) -> dict[str, str]:
        # An HMAC secret is a shared key; a PEM private key is long by construction.
        return {"private_key": self.private_key} if self.algorithm.startswith("HS") else {}


@auth_types.register
class SignedJwtAuth(CredentialAuth):
    """Renders the claims for the row, signs them, sends ``<token type> <jwt>``: per attempt."""

    type_name = "jwt"
    config_model = SignedJwtConfig

    def __init__(self, config: SignedJwtConfig, *, context: TemplateContext) -> None:
        self.config = config
        self.context = context
        self.allowed_hosts = config.allowed_hosts
        self.credential_headers = frozenset({config.header_name.lower()})
        self._recent = threading.local()

    @classmethod
    def from_config(
        cls, config: AuthConfig, *, context: TemplateContext, options: AuthOptions
    ) -> CredentialAuth:
        assert isinstance(config, SignedJwtConfig)
        return cls(config, context=context)

    def _recent_tokens(self) -> deque[str]:
        tokens: deque[str] | None = getattr(self._recent, "tokens", None)
        if tokens is None:
            tokens = self._recent.tokens = deque(maxlen=RECENT_TOKENS_PER_THREAD)
        return tokens

    def secret_values(self) -> frozenset[str]:
        """The key, and the JWTs this thread signed last (those of the request it sent)."""
        return frozenset({self.config.private_key, *self._recent_tokens()})

    def sign(self) -> str:
        """A fresh JWT for this request's row."""
        config = self.config
        claims = render_json(config.claims, self.context)
        if not isinstance(claims, dict):
            raise ConfigError("The JWT claims must render to a JSON object.")
        token = sign_jwt(
            claims,
            cached_signing_key(config.private_key, config.algorithm),
            headers=config.jwt_headers,
        )
        self._recent_tokens().append(token)
        return token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.check_host(request.url)
        token = self.sign()
        prefix = self.config.token_type
        request.headers[self.config.header_name] = f"{prefix} {token}" if prefix else token
        yield request
