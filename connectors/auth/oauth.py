"""OAuth 2.0 grants a server can run on its own: client credentials and the JWT bearer grant."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, HttpUrl, field_validator, model_validator

from connectors.auth.base import (
    AuthConfig,
    AuthOptions,
    auth_types,
    basic_credential,
    secret_field,
)
from connectors.auth.presentation import Capabilities, FieldPresentation
from connectors.auth.signed_jwt import SIGNING_KEY_PRESENTATION
from connectors.auth.signing import (
    ALGORITHMS,
    cached_signing_key,
    check_signing_key,
    jwt_bearer_assertion,
    valid_jwt_headers,
)
from connectors.auth.token_response import expires_in, token_at_path
from connectors.auth.token_store import REFRESH_MARGIN_S, Token
from connectors.auth.tokens import TokenAuth, endpoint_label, request_token
from connectors.errors import ConfigError
from connectors.templating import TemplateContext

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_OAUTH_LIFETIME_S = 3600


class _TokenUrlConfig(AuthConfig):
    token_url: HttpUrl = Field(description="The authorization server's token endpoint.")
    scope: str = Field(default="", description="Space-separated scopes to ask for (optional).")
    skew_s: int = Field(
        default=int(REFRESH_MARGIN_S),
        ge=0,
        le=3600,
        description="Refresh this many seconds before the token expires (at least).",
    )
    refresh_statuses: tuple[int, ...] = Field(
        default=(401,), description="API statuses that mean the token was refused."
    )

    @field_validator("refresh_statuses")
    @classmethod
    def _statuses_are_errors(cls, statuses: tuple[int, ...]) -> tuple[int, ...]:
        if not statuses or any(not 400 <= status <= 599 for status in statuses):
            raise ValueError("give one or more HTTP error statuses (400 to 599), e.g. 401")
        return statuses

    def endpoint_urls(self) -> tuple[str, ...]:
        return (str(self.token_url),)


#: How the token-URL fields both OAuth grants have are shown.
_TOKEN_URL_PRESENTATION = {
    "token_url": FieldPresentation(
        label="Token URL", example="https://auth.example.com/oauth/token"
    ),
    "scope": FieldPresentation(example="read:people read:companies"),
}


class OAuthClientCredentialsConfig(_TokenUrlConfig):
    """RFC 6749 section 4.4: the client authenticates as itself and gets an access token."""

    type: Literal["oauth_client_credentials"] = "oauth_client_credentials"
    client_id: str = Field(min_length=1)
    client_secret: str = secret_field(min_length=1)
    extra_params: dict[str, str] = Field(
        default_factory=dict,
        description='More form fields for the token request, e.g. {"audience": "https://api…"}.',
    )
    client_auth: Literal["client_secret_post", "client_secret_basic"] = Field(
        default="client_secret_post",
        description="Send the client id and secret in the form, or as HTTP Basic.",
    )

    @field_validator("extra_params")
    @classmethod
    def _no_reserved_params(cls, params: dict[str, str]) -> dict[str, str]:
        reserved = {"grant_type", "client_id", "client_secret"} & set(params)
        if reserved:
            raise ValueError(f"{', '.join(sorted(reserved))} is set by Enrich; remove it here")
        return params

    def key_credentials(self) -> dict[str, str]:
        return {"client_secret": self.client_secret}


@auth_types.register
class OAuthClientCredentials(TokenAuth):
    """Fetches a token with the client's id and secret, caches it for its ``expires_in``."""

    type_name = "oauth_client_credentials"
    config_model = OAuthClientCredentialsConfig
    label = "OAuth 2.0 client credentials"
    description = (
        "Client id and secret exchanged for an access token, cached for every worker and "
        "refreshed before it expires."
    )
    order = 30
    field_presentation = {
        **_TOKEN_URL_PRESENTATION,
        "client_id": FieldPresentation(
            label="Client ID", help="The client id the authorization server issued."
        ),
        "client_secret": FieldPresentation(
            help="The client secret the authorization server issued."
        ),
        "extra_params": FieldPresentation(
            label="Extra token request fields",
            example='{"audience": "https://api.example.com"}',
            advanced=True,
        ),
        "client_auth": FieldPresentation(label="Client authentication", advanced=True),
    }

    config: OAuthClientCredentialsConfig

    def __init__(
        self,
        config: OAuthClientCredentialsConfig,
        *,
        context: TemplateContext | None = None,
        options: AuthOptions,
    ) -> None:
        super().__init__(
            config,
            options=options,
            key_parts=(
                str(config.token_url),
                config.client_id,
                config.client_secret,
                config.scope,
                sorted(config.extra_params.items()),
                config.client_auth,
            ),
            credentials=(config.client_secret, basic_credential(*_basic_pair(config))),
            refresh_statuses=frozenset(config.refresh_statuses),
        )

    def fetch(self) -> Token:
        config = self.config
        form = {"grant_type": "client_credentials", **config.extra_params}
        if config.scope:
            form["scope"] = config.scope
        basic = None
        if config.client_auth == "client_secret_basic":
            basic = _basic_pair(config)
        else:
            form.update(client_id=config.client_id, client_secret=config.client_secret)
        return _access_token(self, form=form, basic=basic, fallback_s=DEFAULT_OAUTH_LIFETIME_S)


def _basic_pair(config: OAuthClientCredentialsConfig) -> tuple[str, str]:
    """RFC 6749 section 2.3.1: id and secret are form-encoded before Basic encoding."""
    return quote(config.client_id, safe=""), quote(config.client_secret, safe="")


class OAuthJwtBearerConfig(_TokenUrlConfig):
    """RFC 7523 section 2.1: a signed JWT assertion is exchanged for an access token."""

    type: Literal["oauth_jwt_bearer"] = "oauth_jwt_bearer"
    client_id: str = Field(min_length=1, description="The assertion's issuer (iss).")
    private_key: str = secret_field(min_length=1, description="PEM private key or HMAC secret.")
    subject: str = Field(min_length=1, description="The assertion's subject (sub).")
    audience: str = Field(min_length=1, description="The assertion's audience (aud).")
    algorithm: str = Field(default="RS256")
    token_ttl: int = Field(
        default=DEFAULT_OAUTH_LIFETIME_S,
        ge=10,
        le=86400 * 7,
        description="Seconds to keep the token when the answer has no expires_in.",
    )
    additional_claims: dict[str, Any] = Field(default_factory=dict)
    jwt_headers: dict[str, Any] = Field(default_factory=dict, description='e.g. {"kid": "key-1"}')

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, algorithm: str) -> str:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"choose one of {', '.join(ALGORITHMS)}")
        return algorithm

    @field_validator("jwt_headers")
    @classmethod
    def _headers_sign(cls, headers: dict[str, Any]) -> dict[str, Any]:
        return valid_jwt_headers(headers)

    @model_validator(mode="after")
    def _key_fits_algorithm(self) -> OAuthJwtBearerConfig:
        try:
            check_signing_key(self.private_key, self.algorithm)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return self

    def save_warnings(self) -> list[str]:
        return list(check_signing_key(self.private_key, self.algorithm).warnings)


@auth_types.register
class OAuthJwtBearer(TokenAuth):
    """Signs an assertion (exp in 3 minutes, a fresh jti), posts it, caches the access token."""

    type_name = "oauth_jwt_bearer"
    config_model = OAuthJwtBearerConfig
    label = "OAuth 2.0 JWT bearer (RFC 7523)"
    description = (
        "A signed assertion exchanged for an access token (RFC 7523), as Google service "
        "accounts and Salesforce do."
    )
    order = 50
    field_presentation = {
        **_TOKEN_URL_PRESENTATION,
        **SIGNING_KEY_PRESENTATION,
        "client_id": FieldPresentation(label="Client ID"),
        "subject": FieldPresentation(example="service-account@example.com"),
        "audience": FieldPresentation(example="https://auth.example.com/oauth/token"),
        "token_ttl": FieldPresentation(label="Token lifetime (seconds)", advanced=True),
        "additional_claims": FieldPresentation(
            label="Additional claims",
            help="More claims for the assertion, as a JSON object.",
            example='{"scope": "read"}',
            advanced=True,
        ),
    }
    capabilities = Capabilities(fetches_token=True, signs_with_key_pair=True)
    model_error_field = "private_key"

    config: OAuthJwtBearerConfig

    def __init__(
        self,
        config: OAuthJwtBearerConfig,
        *,
        context: TemplateContext | None = None,
        options: AuthOptions,
    ) -> None:
        super().__init__(
            config,
            options=options,
            key_parts=(
                str(config.token_url),
                config.client_id,
                config.private_key,
                config.algorithm,
                config.subject,
                config.audience,
                config.scope,
                sorted(config.additional_claims.items()),
            ),
            credentials=(config.private_key,),
            refresh_statuses=frozenset(config.refresh_statuses),
        )

    def fetch(self) -> Token:
        config = self.config
        assertion = jwt_bearer_assertion(
            issuer=config.client_id,
            subject=config.subject,
            audience=config.audience,
            signing_key=cached_signing_key(config.private_key, config.algorithm),
            headers=config.jwt_headers,
            additional_claims=config.additional_claims,
        )
        # The signed assertion is a credential too (a token endpoint may echo its form).
        self.remember_secret(assertion)
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        if config.scope:
            form["scope"] = config.scope
        return _access_token(self, form=form, basic=None, fallback_s=config.token_ttl)


def _access_token(
    auth: OAuthClientCredentials | OAuthJwtBearer,
    *,
    form: dict[str, str],
    basic: tuple[str, str] | None,
    fallback_s: float,
) -> Token:
    """Post ``form`` to the token URL; the access token lives ``expires_in`` or ``fallback_s``."""
    config = auth.config
    url = str(config.token_url)
    payload = request_token(
        client=auth.client, url=url, form=form, basic=basic, timeout_s=auth.timeout_s
    )
    value = token_at_path(payload, "access_token", endpoint=endpoint_label(url))
    lifetime = expires_in(payload) or fallback_s
    return Token.issued(value, lifetime_s=lifetime, skew_s=config.skew_s)
