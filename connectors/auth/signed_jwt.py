"""A JWT signed for every request from templated claims — nothing fetched, nothing cached."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator, Iterator
from typing import Any, Literal, Protocol

import httpx
import jwt
from pydantic import Field, field_validator, model_validator

from connectors.auth.base import (
    AuthConfig,
    AuthOptions,
    CredentialAuth,
    auth_types,
    secret_field,
)
from connectors.auth.presentation import Capabilities, ExerciseResult, FieldPresentation
from connectors.auth.signing import (
    ALGORITHMS,
    cached_signing_key,
    check_signing_key,
    sign_jwt,
    valid_jwt_headers,
)
from connectors.config import check_json_template, valid_header_name, valid_header_value
from connectors.errors import ConfigError, TemplateError
from connectors.templating import TemplateContext, render_json, template_column_keys

#: Signed JWTs each thread remembers for masking. The engine builds a request's result on the
#: thread that sent it, and the answer it shows is the last one, so the JWT to hide is the
#: thread's latest. Remembering every JWT ever signed made each result's masking cost grow with
#: the run (quadratic overall); each one kept costs about 0.2 ms of regex per result.
RECENT_TOKENS_PER_THREAD = 4


class SigningKeyConfig(Protocol):
    """The config of a type that signs with a key pair (``Capabilities.signs_with_key_pair``):
    the app can generate the pair and publish its public half by the ``kid`` header."""

    @property
    def private_key(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    @property
    def jwt_headers(self) -> dict[str, Any]: ...


#: How the signing-key fields are shown, for every type that signs JWTs.
SIGNING_KEY_PRESENTATION = {
    "private_key": FieldPresentation(
        label="Private key",
        example="-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----",
        long_text=True,
    ),
    "algorithm": FieldPresentation(
        help="How JWTs are signed: HS* with a shared secret, RS*/PS* with an RSA key, "
        "ES* with an EC key, EdDSA with an Ed25519 key.",
        choices=ALGORITHMS,
    ),
    "jwt_headers": FieldPresentation(
        label="JWT headers", example='{"kid": "key-1"}', advanced=True
    ),
}


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

    def save_warnings(self) -> list[str]:
        return list(check_signing_key(self.private_key, self.algorithm).warnings)

    def column_keys(self) -> set[str]:
        keys: set[str] = set()
        for source in _strings(self.claims):
            try:
                keys |= template_column_keys(source)
            except TemplateError:
                continue
        return keys


def _strings(value: Any) -> Iterator[str]:
    """Every string of a JSON value, object keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@auth_types.register
class SignedJwtAuth(CredentialAuth):
    """Renders the claims for the row, signs them, sends ``<token type> <jwt>``: per attempt."""

    type_name = "jwt"
    config_model = SignedJwtConfig
    label = "JWT signed per request"
    description = "A JWT signed for every request from claims templated over the row."
    order = 40
    field_presentation = {
        **SIGNING_KEY_PRESENTATION,
        "claims": FieldPresentation(example='{"sub": "{{ row.email }}", "exp": "{{ now(300) }}"}'),
        "header_name": FieldPresentation(label="Header name"),
        "token_type": FieldPresentation(label="Token type (prefix)"),
    }
    capabilities = Capabilities(signs_with_key_pair=True)
    exercise_label = "Signs a sample JWT"
    model_error_field = "private_key"

    config: SignedJwtConfig

    def __init__(
        self,
        config: SignedJwtConfig,
        *,
        context: TemplateContext | None = None,
        options: AuthOptions | None = None,
    ) -> None:
        super().__init__(config)
        self.context = context or TemplateContext()
        self.credential_headers = frozenset({config.header_name.lower()})
        self._recent = threading.local()

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
        token = self.sign()
        prefix = self.config.token_type
        request.headers[self.config.header_name] = f"{prefix} {token}" if prefix else token
        yield request

    def exercise(self) -> ExerciseResult:
        """Sign a JWT for a sample row and show its header and claims (not its signature)."""
        token = self.sign()
        shown = {
            "header": jwt.get_unverified_header(token),
            "claims": jwt.decode(token, options={"verify_signature": False}),
        }
        return ExerciseResult(
            f"Signed a sample JWT with {self.config.algorithm}.", debug={"jwt": shown}
        )
