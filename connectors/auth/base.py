"""The seam between the request engine and the auth types.

An auth type is an ``httpx.Auth`` subclass (its ``auth_flow`` adds credentials just before a
request leaves, and may answer a 401 by refreshing and sending once more). On top of httpx's
contract, a ``CredentialAuth`` tells the engine:

- which headers and query parameters carry its credentials, so a redirect to another origin
  never carries them along;
- which values are secret, so debug records and messages mask them.

Types are registered by their ``type`` string in ``auth_types`` (one class per type, no ``if``
chains): ``auth_types.build({"type": "none"}, ...)`` turns a config document into an auth object.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.auth.token_store import TokenCache
from connectors.config import describe_validation_error, without_nul
from connectors.errors import AuthError, ConfigError
from connectors.templating import TemplateContext

_HOST_PATTERN = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)


def secret_field(**kwargs: Any) -> Any:
    """A pydantic field that holds a secret: masked everywhere, write-only in forms."""
    return Field(json_schema_extra={"secret": True}, **kwargs)


class AuthConfig(BaseModel):
    """Base of every auth type's validated config; ``type`` selects the class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    allowed_hosts: tuple[str, ...] = Field(
        default=(),
        description="Host names (or *.example.com for any subdomain) this account's "
        "credentials may be sent to. Empty: any host a column names.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return without_nul(value)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts_are_names(cls, hosts: Any) -> Any:
        if isinstance(hosts, str):
            hosts = hosts.replace("\n", ",").split(",")
        if not isinstance(hosts, list | tuple):
            return hosts
        cleaned = []
        for host in hosts:
            name = str(host).strip().lower().rstrip(".")
            if not name:
                continue
            if not _HOST_PATTERN.match(name):
                raise ValueError(
                    f"“{host}” is not a host name; write api.example.com or *.example.com "
                    "(no scheme, port or path)."
                )
            cleaned.append(name)
        return tuple(cleaned)

    def key_credentials(self) -> dict[str, str]:
        """The secret fields that are keys (an API key, a client secret, an HMAC secret), by
        name: a stored account needs them long enough to be real, and to mask safely."""
        return {}

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        """The names of this config's fields that hold secrets (write-only in forms)."""
        return tuple(
            name
            for name, info in cls.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("secret")
        )


def basic_credential(username: str, password: str) -> str:
    """The ``Authorization`` value HTTP Basic sends (as httpx builds it): a secret of its own,
    since an endpoint that echoes its request headers shows it, not the password."""
    pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``host`` matches one of ``allowed`` (``*.example.com`` matches subdomains only)."""
    host = host.lower().rstrip(".")
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


@dataclass(frozen=True)
class AuthOptions:
    """Process-level things auth types need: where tokens are cached, how token endpoints are
    reached, and a namespace (the account) that keeps two accounts' tokens apart."""

    token_store_url: str = "memory://"  # noqa: S105 - a location, not a password
    #: The shared token cache; built from ``token_store_url`` (once per process) when None.
    token_cache: TokenCache | None = None
    #: The client token requests go through: the engine's, so the network guard applies.
    http_client: httpx.Client | None = None
    #: Distinguishes accounts with identical credentials (e.g. the account's id).
    cache_namespace: str = ""
    #: Time limit of one token request, in seconds.
    token_timeout_s: float = 30.0


class CredentialAuth(httpx.Auth):
    """Base class of Enrich's auth types."""

    #: The ``type`` string this class is registered under.
    type_name: ClassVar[str]
    #: The pydantic model that validates this type's config.
    config_model: ClassVar[type[AuthConfig]]
    #: Header names (any case) this auth adds; stripped on cross-origin redirects.
    credential_headers: frozenset[str] = frozenset()
    #: Query parameter names this auth adds; stripped on cross-origin redirects.
    credential_query_params: frozenset[str] = frozenset()

    #: Only these hosts may receive the credentials (empty: any).
    allowed_hosts: tuple[str, ...] = ()

    def secret_values(self) -> frozenset[str]:
        """Credential values to mask wherever a request or an answer is shown."""
        return frozenset()

    def check_host(self, url: httpx.URL) -> None:
        """Refuse, before anything is sent, to attach credentials for a host not allowed."""
        if self.allowed_hosts and not host_allowed(url.host, self.allowed_hosts):
            raise AuthError(
                f"This account's credentials may only be sent to {', '.join(self.allowed_hosts)}; "
                f"the request goes to {url.host}. Add the host to the account's allowed hosts "
                "or pick another account."
            )

    @classmethod
    def from_config(
        cls, config: AuthConfig, *, context: TemplateContext, options: AuthOptions
    ) -> CredentialAuth:
        """Build the auth object for one request (or one run) from its validated config."""
        raise NotImplementedError


class NoAuthConfig(AuthConfig):
    """Config of the ``none`` auth type: no fields."""

    type: Literal["none"] = "none"


class NoAuth(CredentialAuth):
    """Adds nothing."""

    type_name = "none"
    config_model = NoAuthConfig

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request unchanged."""
        yield request

    @classmethod
    def from_config(
        cls, config: AuthConfig, *, context: TemplateContext, options: AuthOptions
    ) -> NoAuth:
        """Nothing to read from the config."""
        return cls()


class AuthRegistry:
    """Auth types by ``type`` string."""

    def __init__(self) -> None:
        self._types: dict[str, type[CredentialAuth]] = {}

    def register(self, auth_class: type[CredentialAuth]) -> type[CredentialAuth]:
        """Add an auth type (usable as a class decorator)."""
        if auth_class.type_name in self._types:
            raise ValueError(f"auth type {auth_class.type_name!r} is already registered")
        self._types[auth_class.type_name] = auth_class
        return auth_class

    def names(self) -> list[str]:
        """The registered type strings, sorted."""
        return sorted(self._types)

    def get(self, type_name: str) -> type[CredentialAuth]:
        """The class registered as ``type_name``; ConfigError naming ``auth.type`` if none."""
        try:
            return self._types[type_name]
        except KeyError:
            known = ", ".join(self.names())
            raise ConfigError(
                f"auth.type: unknown auth type {type_name!r} (known types: {known})."
            ) from None

    def parse_config(self, data: Mapping[str, Any]) -> AuthConfig:
        """Validate an auth config document; errors name the ``auth.<field>`` at fault."""
        type_name = data.get("type")
        if not isinstance(type_name, str):
            raise ConfigError('auth.type: a type is required (e.g. "none").')
        auth_class = self.get(type_name)
        try:
            return auth_class.config_model.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, prefix="auth")) from None

    def build(
        self,
        data: Mapping[str, Any],
        *,
        context: TemplateContext,
        options: AuthOptions | None = None,
    ) -> CredentialAuth:
        """Validate ``data`` and build its auth object."""
        config = self.parse_config(data)
        return self.get(config.type).from_config(
            config, context=context, options=options or AuthOptions()
        )


auth_types = AuthRegistry()
auth_types.register(NoAuth)
