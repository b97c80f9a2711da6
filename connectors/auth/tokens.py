"""The flow every token-based auth type shares: fetch once, cache for all, refresh on 401.

A type only says how to fetch its token (``TokenAuth.fetch``); this module does the rest —
the single-flight cache, the header, the one retry after a 401 — so the types stay short and
agree on behaviour. Token requests go through the engine's guarded client, so a token
endpoint is held to the same network rules as any other URL.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Mapping
from typing import Any

import httpx

from connectors.auth.base import AuthConfig, AuthOptions, CredentialAuth
from connectors.auth.presentation import Capabilities, ExerciseResult, FieldPresentation
from connectors.auth.token_store import (
    SHARED_STORE_LOCAL_S,
    InMemoryTokenStore,
    RedisTokenStore,
    Token,
    TokenCache,
    cache_key,
)
from connectors.errors import AuthError, ConfigError, ConnectorError, CredentialsRefused
from connectors.network import NetworkPolicy
from connectors.response import charset, parse_body, read_body
from connectors.transport import shared_client

#: A token answer is small; anything bigger is not one.
MAX_TOKEN_ANSWER_BYTES = 1024 * 1024
DEFAULT_REFRESH_STATUSES = frozenset({401})

_caches: dict[str, TokenCache] = {}
_caches_lock = threading.Lock()


def token_cache_for(url: str) -> TokenCache:
    """The process's token cache at ``url``: ``memory://`` or ``redis://host:6379/0``."""
    with _caches_lock:
        cache = _caches.get(url)
        if cache is None:
            if url.startswith("memory:"):
                cache = TokenCache(InMemoryTokenStore())
            elif url.startswith(("redis://", "rediss://", "unix://")):
                cache = TokenCache(RedisTokenStore.from_url(url), local_s=SHARED_STORE_LOCAL_S)
            else:
                raise ConfigError(
                    f"Unknown token store {url!r}: use memory:// or redis://host:6379/0."
                )
            _caches[url] = cache
        return cache


def endpoint_label(url: str | httpx.URL) -> str:
    """A token endpoint as messages name it: no user info, no query (either may hold secrets)."""
    parsed = httpx.URL(str(url))
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def request_token(
    *,
    client: httpx.Client,
    url: str,
    form: Mapping[str, str] | None = None,
    json_body: Mapping[str, Any] | None = None,
    basic: tuple[str, str] | None = None,
    timeout_s: float,
) -> Any:
    """POST to a token endpoint and return its parsed JSON answer, or raise an ``AuthError``
    that names the endpoint and what went wrong (never the credentials that were sent)."""
    label = endpoint_label(url)
    headers = {"Accept": "application/json"}
    if json_body is not None:
        content: bytes | None = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    else:
        content = None
    try:
        request = client.build_request(
            "POST",
            url,
            data=dict(form) if form is not None else None,
            content=content,
            headers=headers,
            timeout=timeout_s,
        )
        if basic is not None:
            request = next(httpx.BasicAuth(*basic).auth_flow(request))
        deadline = time.monotonic() + timeout_s
        response = client.send(request, stream=True)
        try:
            body = read_body(response, max_bytes=MAX_TOKEN_ANSWER_BYTES, deadline=deadline)
        finally:
            response.close()
    except httpx.TimeoutException:
        raise AuthError(
            f"The token endpoint {label} did not answer within {timeout_s:g} s."
        ) from None
    except httpx.HTTPError:
        raise AuthError(f"Could not reach the token endpoint {label}.") from None
    except ConnectorError as exc:
        raise AuthError(f"The token endpoint {label}: {exc.message}") from None
    return _token_answer(response, body, label)


def _token_answer(response: httpx.Response, body: bytes, label: str) -> Any:
    status = response.status_code
    payload = parse_body(body, charset(response))
    if 300 <= status < 400:
        raise AuthError(
            f"The token endpoint {label} answered {status} (a redirect); "
            "use the address it redirects to."
        )
    if status >= 400:
        detail = ""
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            # RFC 6749 section 5.2: "error" is a code from a fixed list, safe to show.
            detail = f" ({payload['error'][:80]})"
        message = f"The token endpoint {label} answered {status} {response.reason_phrase}{detail}."
        if status in (400, 401, 403):
            raise CredentialsRefused(f"{message} Check the credentials.")
        raise AuthError(message)
    if not isinstance(payload, dict | list):
        kind = response.headers.get("content-type", "no content type")
        raise AuthError(f"The token endpoint {label} did not answer with JSON ({kind}).")
    return payload


class TokenAuth(CredentialAuth):
    """Base of the types that send a cached token: ``<token type> <token>`` in a header."""

    capabilities = Capabilities(fetches_token=True)
    exercise_label = "Fetches a fresh token"
    field_presentation = {
        "skew_s": FieldPresentation(label="Refresh margin (seconds)", advanced=True),
        "refresh_statuses": FieldPresentation(
            label="Refresh on statuses",
            help="API statuses that mean the token was refused, e.g. 401.",
            advanced=True,
        ),
    }

    def __init__(
        self,
        config: AuthConfig,
        *,
        options: AuthOptions,
        key_parts: tuple[object, ...],
        credentials: tuple[str, ...],
        header_name: str = "Authorization",
        token_type: str = "Bearer",  # noqa: S107 - the scheme word, not a secret
        refresh_statuses: frozenset[int] = DEFAULT_REFRESH_STATUSES,
    ) -> None:
        super().__init__(config)
        self.header_name = header_name
        self.token_type = token_type
        self.refresh_statuses = refresh_statuses
        self.credential_headers = frozenset({header_name.lower()})
        self.cache = options.token_cache or token_cache_for(options.token_store_url)
        # Everything that changes the token is in the key, so an edited account gets a new one.
        self.cache_key = cache_key(self.type_name, options.cache_namespace, *key_parts)
        self.timeout_s = options.token_timeout_s
        self._client = options.http_client
        self._credentials = frozenset(value for value in credentials if value)
        self._tokens_seen: set[str] = set()
        self._lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        """The client token requests go through (the public internet only, when not given)."""
        return self._client or shared_client(NetworkPolicy())

    def fetch(self) -> Token:
        """Ask the token endpoint for a new token."""
        raise NotImplementedError

    def token(self) -> Token:
        """A fresh token: from the cache, or fetched once for every caller sharing it."""
        token = self.cache.get(self.cache_key, self.fetch)
        with self._lock:
            self._tokens_seen.add(token.value)
        return token

    def header_value(self, token: str) -> str:
        return f"{self.token_type} {token}" if self.token_type else token

    def secret_values(self) -> frozenset[str]:
        with self._lock:
            return self._credentials | frozenset(self._tokens_seen)

    def remember_secret(self, value: str) -> None:
        """Mask ``value`` as well (a signed assertion sent to the token endpoint)."""
        with self._lock:
            self._tokens_seen.add(value)

    def sync_credential_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with the cached token; on a refusal, replace that token once and send again.

        Only a token that is still the cached one is thrown away, so a burst of 401s for one
        expired token costs one fetch. A second refusal is the API's answer, not a loop.
        """
        token = self.token()
        request.headers[self.header_name] = self.header_value(token.value)
        response = yield request
        if response.status_code not in self.refresh_statuses:
            return
        self.cache.invalidate(self.cache_key, token.value)
        token = self.token()
        request.headers[self.header_name] = self.header_value(token.value)
        yield request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Only the synchronous client reaches the token store (``sync_credential_flow``)."""
        raise RuntimeError("Enrich's token auth types run on the synchronous client.")
        yield request  # pragma: no cover - makes this a generator, as httpx expects

    def exercise(self) -> ExerciseResult:
        """Fetch a fresh token (not the cached one: the test is that the endpoint answers
        now); it then goes into the shared cache, where the next column run finds it."""
        token = self.fetch()
        self.cache.put(self.cache_key, token)
        self.token()  # from the cache just filled: marks the value for masking
        minutes = max(0, round((token.expires_at - time.time()) / 60))
        return ExerciseResult(f"Got a token, valid for about {minutes} min.")
