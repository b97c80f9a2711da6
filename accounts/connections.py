"""Accounts at work: the process's engine, an account's auth object, secret lookups, and
"Test connection". The enrichment pipeline, the UI and the CLI all come through here.

    auth = account_auth(account=column.account, context=context, column_fields=fields)
    result = engine().send(config, context=context, auth=auth)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from pydantic import ValidationError

from accounts import crypto
from accounts.connection_accounts import account_document, secret_keys
from accounts.exceptions import DecryptionError
from accounts.exchange_recording import ExchangeRecorder
from accounts.models import Account, Workspace
from accounts.workspace_secrets import secret_value
from connectors import (
    AuthConfig,
    AuthError,
    AuthOptions,
    ConfigError,
    ConnectorError,
    CredentialAuth,
    Engine,
    InMemoryRateLimitStore,
    NetworkPolicy,
    NoAuth,
    RedisRateLimitStore,
    RequestConfig,
    RetryConfig,
    TemplateContext,
    TemplateError,
    auth_types,
    describe_validation_error,
)
from connectors.auth import InMemoryTokenStore, RedisTokenStore, TokenCache
from connectors.auth.token_store import SHARED_STORE_LOCAL_S
from connectors.debug import Masker

#: How long "Test connection" waits for a token endpoint or the test URL.
TEST_TIMEOUT_S = 20.0
#: Where the Redis token store keeps tokens, under the installation's cache prefix.
TOKEN_KEY_SUFFIX = ":token:"  # noqa: S105 - a key prefix, not a password

_lock = threading.Lock()
_engines: dict[tuple[object, ...], Engine] = {}
_token_caches: dict[str, TokenCache] = {}


def engine() -> Engine:
    """The process's engine: the allowed networks from settings, rate limits shared in Redis
    when ``REDIS_URL`` is set (else in this process). Built once, thread-safe."""
    key = (tuple(settings.ENRICH_ALLOWED_NETWORKS), settings.REDIS_URL)
    found = _engines.get(key)
    if found is None:
        with _lock:
            found = _engines.get(key)
            if found is None:
                store = (
                    RedisRateLimitStore.from_url(settings.REDIS_URL)
                    if settings.REDIS_URL
                    else InMemoryRateLimitStore()
                )
                found = _engines[key] = Engine(
                    network_policy=NetworkPolicy.allowing(*settings.ENRICH_ALLOWED_NETWORKS),
                    rate_limit_store=store,
                )
    return found


def token_key_prefix() -> str:
    """The Redis key prefix of cached tokens: one installation's never meet another's."""
    return str(settings.CACHES["default"].get("KEY_PREFIX") or "enrich") + TOKEN_KEY_SUFFIX


_TOKEN_BINDING = crypto.Binding(0, "connectors.Token", "token-cache", "value")


def encrypt_token(value: str) -> str:
    """Encrypt an access token for the shared Redis store."""
    return crypto.encrypt(value, binding=_TOKEN_BINDING)


def decrypt_token(stored: str) -> str:
    """Decrypt a cached access token; an ``AuthError`` (a cell error, not a crash) if it can't."""
    try:
        return crypto.decrypt(stored, binding=_TOKEN_BINDING)
    except DecryptionError as error:
        raise AuthError(
            f"{error.about('A cached access token')} Run manage.py rotate_encryption_keys "
            "while the old key is still listed."
        ) from None


def token_cache() -> TokenCache:
    """The process's token cache: Redis (tokens encrypted) with ``REDIS_URL``, else memory."""
    url = settings.REDIS_URL
    found = _token_caches.get(url)
    if found is None:
        with _lock:
            found = _token_caches.get(url)
            if found is None:
                if url:
                    import redis

                    store: Any = RedisTokenStore(
                        redis.Redis.from_url(url),
                        prefix=token_key_prefix(),
                        encrypt=encrypt_token,
                        decrypt=decrypt_token,
                    )
                    found = TokenCache(store, local_s=SHARED_STORE_LOCAL_S)
                else:
                    found = TokenCache(InMemoryTokenStore())
                _token_caches[url] = found
    return found


def auth_options(*, account: Account) -> AuthOptions:
    """What the account's auth object needs from this process: the shared token cache, the
    engine's guarded client, and the account as the cache namespace."""
    return AuthOptions(
        token_cache=token_cache(),
        http_client=engine().client,
        cache_namespace=f"account:{account.pk}",
    )


def secret_lookup(*, workspace: Workspace) -> Callable[[str], str | None]:
    """``get_secret`` for templates of ``workspace``: the decrypted value, None when missing.

    Each name is read once per lookup object. Only ``workspace``'s secrets are reachable.
    """
    workspace_id = workspace.pk
    values: dict[str, str | None] = {}
    guard = threading.Lock()

    def lookup(name: str) -> str | None:
        with guard:
            if name in values:
                return values[name]
        try:
            value = secret_value(workspace_id=workspace_id, name=name)
        except DecryptionError as error:
            raise TemplateError(str(error)) from None
        with guard:
            values[name] = value
        return value

    return lookup


def account_auth(
    *,
    account: Account | None,
    context: TemplateContext,
    column_fields: Mapping[str, Any] | None = None,
) -> CredentialAuth:
    """The auth object for one request (or one run) with ``account``; ``NoAuth`` for None.

    ``column_fields`` are the non-secret fields a column sets for itself (the type's
    ``capabilities.column_fields``, e.g. a JWT token endpoint's ``token_location``); they
    override the account's. Raises ``ConfigError`` for an invalid combination and
    ``AuthError`` when the account's secrets cannot be decrypted.
    """
    if account is None:
        return NoAuth()
    document = _document(account)
    overrides = dict(column_fields or {})
    forbidden = sorted(set(overrides) & (secret_keys(account.auth_type) | {"type"}))
    if forbidden:
        raise ConfigError(f"auth.{forbidden[0]}: a column cannot set the account's {forbidden[0]}.")
    document.update(overrides)
    return auth_types.build(document, context=context, options=auth_options(account=account))


def _document(account: Account) -> dict[str, Any]:
    try:
        return account_document(account=account)
    except DecryptionError as error:
        raise AuthError(str(error)) from None


# --- Test connection ----------------------------------------------------------------------


@dataclass
class ConnectionTestResult:
    """What "Test connection" found: a verdict, a message, the time it took and the masked
    record of each step (``token_requests``, ``jwt``, ``test_request``)."""

    ok: bool
    message: str
    elapsed_ms: float
    debug: dict[str, Any] = field(default_factory=dict)
    tested_at: datetime = field(default_factory=timezone.now)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape ``manage.py account test`` prints."""
        return {
            "ok": self.ok,
            "message": self.message,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "tested_at": self.tested_at.isoformat(),
            "debug": self.debug,
        }


def account_test(*, account: Account, test_url: str = "") -> ConnectionTestResult:
    """Check an account for real: the type's exercise (fetch a token, sign a sample JWT…),
    then GET ``test_url`` (or the account's saved one) with the credentials. Never raises for
    a failure; records the verdict on the account."""
    started = time.perf_counter()
    test_url = (test_url or account.test_url).strip()
    recorder = ExchangeRecorder(engine().network_policy)
    debug: dict[str, Any] = {}
    steps: list[str] = []
    auth: CredentialAuth | None = None
    context = _sample_context(account)
    ok = True
    try:
        document = account_document(account=account)
        request = _test_request(test_url) if test_url else None
        config = auth_types.parse_config(document)
        context = _sample_context(account, config)
        options = AuthOptions(
            token_cache=token_cache(),
            http_client=recorder.client,
            cache_namespace=f"account:{account.pk}",
            token_timeout_s=TEST_TIMEOUT_S,
        )
        auth = auth_types.get(config.type).from_config(config, context=context, options=options)
        exercised = auth.exercise()
        debug.update(exercised.debug)
        steps.append(exercised.message)
        if request is not None:
            answer = engine().send(request, context=context, auth=auth)
            debug["test_request"] = answer.debug.to_dict()
            if answer.ok:
                steps.append(f"GET {answer.debug.url} answered {answer.status}.")
            else:
                ok = False
                steps.append(answer.error.message if answer.error else "The test request failed.")
        elif exercised.needs_test_url:
            steps.append("Give a test URL to check that an API accepts them.")
    except (ConnectorError, DecryptionError) as error:
        ok = False
        steps.append(error.message if isinstance(error, ConnectorError) else str(error))
    finally:
        secrets = set(context.secret_values())
        credential_fields: frozenset[str] = frozenset()
        if auth is not None:
            secrets |= auth.secret_values()
            credential_fields = auth.credential_body_fields
        token_requests = recorder.records(secrets=secrets, credential_fields=credential_fields)
        recorder.close()
    if token_requests:
        debug["token_requests"] = token_requests
    masker = Masker(secrets)
    message = masker(" ".join(steps))
    result = ConnectionTestResult(
        ok=ok, message=message, elapsed_ms=(time.perf_counter() - started) * 1000, debug=debug
    )
    _remember(account, result)
    return result


def _test_request(test_url: str) -> RequestConfig:
    """A single GET of the test URL; ``ConfigError`` when it is no http(s) URL."""
    try:
        return RequestConfig(
            endpoint=test_url,
            timeout_s=TEST_TIMEOUT_S,
            retry=RetryConfig(attempts=1),
            max_response_bytes=256 * 1024,
        )
    except ValidationError as exc:
        raise ConfigError(f"Test URL: {describe_validation_error(exc)}") from None


def _sample_context(account: Account, config: AuthConfig | None = None) -> TemplateContext:
    """A context for the test: the workspace's secrets and a row of placeholders for every
    column the config's templates read (a JWT's claims), so they render without a real row."""
    keys = config.column_keys() if config is not None else set()
    return TemplateContext(
        row={key: f"<{key}>" for key in sorted(keys)},
        secrets=secret_lookup(workspace=account.workspace),
        account={"name": account.name},
        workspace={"name": account.workspace.name},
    )


def _remember(account: Account, result: ConnectionTestResult) -> None:
    account.last_test_status = Account.TestStatus.OK if result.ok else Account.TestStatus.FAILED
    account.last_test_message = result.message[:500]
    account.last_tested_at = result.tested_at
    Account.objects.filter(pk=account.pk).update(
        last_test_status=account.last_test_status,
        last_test_message=account.last_test_message,
        last_tested_at=account.last_tested_at,
    )
