"""The seam between the request engine and the auth types.

An auth type is an ``httpx.Auth`` subclass (its ``auth_flow`` adds credentials just before a
request leaves, and may answer a 401 by refreshing and sending once more). On top of httpx's
contract, a ``CredentialAuth`` tells the engine:

- which headers and query parameters carry its credentials, so a redirect to another origin
  never carries them along;
- which values are secret, so debug records and messages mask them.

and tells the app how it presents itself (label, description, order, how each config field is
shown), what it can do (``Capabilities``) and what "Test connection" does with it
(``exercise``). The base class builds a type from its validated config (``from_config``) and
refuses, before any of the type's code runs, to send credentials to a host the account does not
allow: a type cannot forget the check.

Types are registered by their ``type`` string in ``auth_types`` (one class per type, no ``if``
chains): ``auth_types.build({"type": "none"}, ...)`` turns a config document into an auth object.
A new type is one module that registers its class, plus its section in ``docs/auth-types.md``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncGenerator, Generator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.auth.presentation import Capabilities, ExerciseResult, FieldPresentation
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

    def save_warnings(self) -> list[str]:
        """Problems worth telling the owner when the account is saved, that do not stop it
        from working (a weak signing key)."""
        return []

    def endpoint_urls(self) -> tuple[str, ...]:
        """The URLs the type itself sends credentials to (a token endpoint), where the
        account's credentials evidently go: proposed as its allowed hosts."""
        return ()

    def column_keys(self) -> set[str]:
        """The column keys this config's templates read (a signed JWT's claims)."""
        return set()

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


#: Where types present the one field every type has.
ALLOWED_HOSTS_PRESENTATION = FieldPresentation(
    label="Allowed hosts", example="api.example.com, *.example.com", advanced=True
)


class CredentialAuth(httpx.Auth):
    """Base class of Enrich's auth types.

    A type says how it adds credentials in ``auth_flow`` (pure header logic) or, when it does
    I/O such as fetching a token, in ``sync_credential_flow``. httpx's entry points
    (``sync_auth_flow``, ``async_auth_flow``) belong to this class: they check the host first.
    """

    #: The ``type`` string this class is registered under.
    type_name: ClassVar[str]
    #: The pydantic model that validates this type's config.
    config_model: ClassVar[type[AuthConfig]]
    #: How the UI names the type, e.g. "API key".
    label: ClassVar[str] = ""
    #: One line for the "Add account" picker.
    description: ClassVar[str] = ""
    #: The type's place in the picker (lower first).
    order: ClassVar[int] = 1000
    #: How the config's fields are shown, by field name; merged with the base classes' (see
    #: ``presented_field``), so shared fields are described once.
    field_presentation: ClassVar[Mapping[str, FieldPresentation]] = {
        "allowed_hosts": ALLOWED_HOSTS_PRESENTATION
    }
    #: What the type can do besides adding credentials.
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: What "Test connection" does first, as the account page says it ("Fetches a fresh token").
    exercise_label: ClassVar[str] = "Checks the credentials"
    #: The field a validation message about the whole config belongs to (e.g. a key that
    #: does not fit its algorithm belongs to ``private_key``); empty: the form's top.
    model_error_field: ClassVar[str] = ""

    #: Header names (any case) this auth adds; stripped on cross-origin redirects.
    credential_headers: frozenset[str] = frozenset()
    #: Query parameter names this auth adds; stripped on cross-origin redirects.
    credential_query_params: frozenset[str] = frozenset()
    #: Body fields of the type's own token requests that carry a credential (masked whole
    #: in "Test connection"'s record of the exchange).
    credential_body_fields: frozenset[str] = frozenset()

    #: Only these hosts may receive the credentials (empty: any). Set by ``from_config``.
    allowed_hosts: tuple[str, ...] = ()

    def __init__(
        self,
        config: AuthConfig | None = None,
        *,
        context: TemplateContext | None = None,
        options: AuthOptions | None = None,
    ) -> None:
        """Keep ``config``; a type takes what else it needs of ``context`` and ``options``."""
        if config is not None:
            self.config = config
            self.allowed_hosts = config.allowed_hosts

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for entry_point in ("sync_auth_flow", "async_auth_flow"):
            if entry_point in vars(cls):
                raise TypeError(
                    f"{cls.__name__} overrides {entry_point}, which checks the allowed hosts "
                    "first: add credentials in auth_flow, or in sync_credential_flow for I/O."
                )

    @classmethod
    def from_config(
        cls, config: AuthConfig, *, context: TemplateContext, options: AuthOptions
    ) -> CredentialAuth:
        """Build the auth object for one request (or one run) from its validated config."""
        if not isinstance(config, cls.config_model):
            raise ConfigError(
                f"auth.type: {cls.type_name!r} cannot be built from a {config.type!r} config."
            )
        auth = cls(config, context=context, options=options)
        # Here, not in each type: no type can send credentials outside its allowed hosts.
        auth.allowed_hosts = config.allowed_hosts
        return auth

    @classmethod
    def presented_field(cls, name: str) -> FieldPresentation:
        """How the config field ``name`` is shown: this class's word, else its bases'."""
        for klass in cls.__mro__:
            presentation: Mapping[str, FieldPresentation] = vars(klass).get(
                "field_presentation", {}
            )
            if name in presentation:
                return presentation[name]
        return FieldPresentation()

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

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """httpx's entry point: the host check, then the type's flow."""
        self.check_host(request.url)
        yield from self.sync_credential_flow(request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """httpx's async entry point: the host check, then httpx's flow over ``auth_flow``."""
        self.check_host(request.url)
        flow = super().async_auth_flow(request)
        outgoing = await flow.__anext__()
        while True:
            response = yield outgoing
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return

    def sync_credential_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the credentials and send (httpx's flow over ``auth_flow``); a type that does
        I/O (the token store, a lock) overrides this instead of ``auth_flow``."""
        yield from super().sync_auth_flow(request)

    def exercise(self) -> ExerciseResult:
        """What "Test connection" does before its test request: fetch a token, sign a sample
        JWT, or (here) nothing the credentials need."""
        return ExerciseResult("The credentials are complete.", needs_test_url=True)


class NoAuthConfig(AuthConfig):
    """Config of the ``none`` auth type: no fields."""

    type: Literal["none"] = "none"


class NoAuth(CredentialAuth):
    """Adds nothing."""

    type_name = "none"
    config_model = NoAuthConfig
    label = "No authentication"
    description = (
        "Call public APIs with no credentials (rate limits and allowed hosts still apply)."
    )
    order = 90
    capabilities = Capabilities(sends_credentials=False)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request unchanged."""
        yield request

    def exercise(self) -> ExerciseResult:
        return ExerciseResult("This account sends no credentials.", needs_test_url=True)


AuthClass = TypeVar("AuthClass", bound=type[CredentialAuth])


class AuthRegistry:
    """Auth types by ``type`` string."""

    def __init__(self) -> None:
        self._types: dict[str, type[CredentialAuth]] = {}

    def register(self, auth_class: AuthClass) -> AuthClass:
        """Add an auth type (usable as a class decorator); it must say what it is called."""
        if auth_class.type_name in self._types:
            raise ValueError(f"auth type {auth_class.type_name!r} is already registered")
        if not auth_class.label:
            raise ValueError(f"auth type {auth_class.type_name!r} has no label")
        self._types[auth_class.type_name] = auth_class
        return auth_class

    def names(self) -> list[str]:
        """The registered type strings, sorted."""
        return sorted(self._types)

    def types(self) -> list[type[CredentialAuth]]:
        """The registered classes in the order the "Add account" picker shows them."""
        return sorted(self._types.values(), key=lambda found: (found.order, found.type_name))

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
