"""Where fetched access tokens live, shared by every thread, process and machine.

A ``TokenStore`` keeps tokens and the locks that make one fetch serve everyone. The in-process
store serves one process (the CLI, a single worker); ``RedisTokenStore`` serves every worker
that shares a Redis. ``TokenCache`` holds the one piece of logic on top of any store: return a
fresh token, refresh it ahead of expiry under a lock, and let only one caller fetch.

Expiry times are wall-clock Unix seconds: tokens cross machines, where a monotonic clock
means nothing. The refresh margin (at least 60 s) absorbs ordinary clock skew between hosts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.errors import AuthError, CredentialsRefused

logger = logging.getLogger(__name__)

#: Refresh this long before expiry at least, and at least this share of the lifetime.
REFRESH_MARGIN_S = 60.0
REFRESH_MARGIN_SHARE = 0.10
#: Spread refreshes of many tokens with the same lifetime over this many seconds.
REFRESH_JITTER_S = 5.0
#: Cache no token longer than this, whatever its answer claims: an absurd or infinite
#: ``expires_in`` (JSON's ``1e400`` parses as infinity) would otherwise overflow the store.
MAX_LIFETIME_S = 30 * 86400.0


@dataclass(frozen=True)
class Token:
    """An access token and the times that govern it (Unix seconds)."""

    value: str
    expires_at: float
    refresh_at: float

    @classmethod
    def issued(
        cls,
        value: str,
        *,
        lifetime_s: float,
        skew_s: float = REFRESH_MARGIN_S,
        now: float | None = None,
    ) -> Token:
        """A token valid for ``lifetime_s`` from now, refreshed ahead of its expiry.

        Refresh at ``exp - max(skew, 10 % of the lifetime)`` (skew 60 s by default) minus a
        little jitter, so tokens issued together do not expire together and none dies in flight.
        """
        now = time.time() if now is None else now
        lifetime_s = min(max(0.0, lifetime_s), MAX_LIFETIME_S)
        margin = max(skew_s, REFRESH_MARGIN_SHARE * lifetime_s)
        # A token shorter-lived than the margin is refreshed at half its life instead.
        margin = min(margin, lifetime_s / 2)
        jitter = random.uniform(0, min(REFRESH_JITTER_S, margin / 4))  # noqa: S311 - not crypto
        return cls(
            value=value, expires_at=now + lifetime_s, refresh_at=now + lifetime_s - margin - jitter
        )

    def is_fresh(self, now: float | None = None) -> bool:
        """Not yet due for refresh."""
        return (time.time() if now is None else now) < self.refresh_at

    def is_usable(self, now: float | None = None) -> bool:
        """Not yet expired (it may be due for refresh)."""
        return (time.time() if now is None else now) < self.expires_at

    def to_json(self) -> str:
        return json.dumps({"v": self.value, "e": self.expires_at, "r": self.refresh_at})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Token:
        data = json.loads(raw)
        return cls(value=data["v"], expires_at=float(data["e"]), refresh_at=float(data["r"]))

    def __repr__(self) -> str:  # the value is a secret: never in a log or a traceback
        return (
            f"Token(value='••••', expires_at={self.expires_at:.0f}, "
            f"refresh_at={self.refresh_at:.0f})"
        )


class TokenStore(Protocol):
    """Storage for tokens plus a lock per key. Implementations must be thread-safe."""

    def get(self, key: str) -> Token | None:
        """The stored token, or None."""

    def put(self, key: str, token: Token) -> None:
        """Store ``token`` until it expires."""

    def discard(self, key: str, value: str) -> bool:
        """Delete the token under ``key`` only if its value is still ``value``."""

    def lock(
        self, key: str, *, hold_s: float, wait_s: float
    ) -> contextlib.AbstractContextManager[bool]:
        """Hold the fetch lock for ``key``; yields False if not acquired within ``wait_s``.

        A lock is released after ``hold_s`` even if its holder dies, so a crashed fetch cannot
        block the others for longer than that.
        """


class InMemoryTokenStore:
    """A token store for one process."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> Token | None:
        with self._guard:
            token = self._tokens.get(key)
            if token is not None and not token.is_usable():
                del self._tokens[key]
                return None
            return token

    def put(self, key: str, token: Token) -> None:
        with self._guard:
            self._tokens[key] = token

    def discard(self, key: str, value: str) -> bool:
        with self._guard:
            token = self._tokens.get(key)
            if token is None or token.value != value:
                return False
            del self._tokens[key]
            return True

    @contextlib.contextmanager
    def lock(self, key: str, *, hold_s: float, wait_s: float) -> Iterator[bool]:
        # Threads of one process cannot crash while holding the lock without the process
        # going too, so ``hold_s`` needs no enforcement here.
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        acquired = lock.acquire(timeout=wait_s)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()


# Delete or release only if the stored value is still ours (atomic in Redis).
_COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisTokenStore:
    """A token store in Redis, shared by every worker process and machine.

    Token values are encrypted with ``encrypt``/``decrypt`` when given (the Django side passes
    the workspace cipher); either way they are never logged.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "enrich:token:",
        encrypt: Callable[[str], str] | None = None,
        decrypt: Callable[[str], str] | None = None,
        poll_s: float = 0.02,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._encrypt = encrypt or (lambda text: text)
        self._decrypt = decrypt or (lambda text: text)
        self._poll_s = poll_s
        self._compare_and_delete = client.register_script(_COMPARE_AND_DELETE)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisTokenStore:
        """A store on the Redis at ``url`` (``redis://host:6379/0``)."""
        import redis

        return cls(redis.Redis.from_url(url), **options)

    def _key(self, key: str) -> str:
        return self._prefix + key

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """Redis failures as an error a cell can show, not a traceback."""
        import redis

        try:
            yield
        except redis.RedisError as exc:
            raise AuthError(
                f"The shared token store (Redis) did not answer ({type(exc).__name__}); "
                "check that Redis is running and REDIS_URL points at it."
            ) from None

    def get(self, key: str) -> Token | None:
        with self._answering():
            raw = self._redis.get(self._key(key))
        if raw is None:
            return None
        token = Token.from_json(raw)
        return Token(self._decrypt(token.value), token.expires_at, token.refresh_at)

    def put(self, key: str, token: Token) -> None:
        ttl_ms = int((token.expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        stored = Token(self._encrypt(token.value), token.expires_at, token.refresh_at)
        with self._answering():
            self._redis.set(self._key(key), stored.to_json(), px=ttl_ms)

    def discard(self, key: str, value: str) -> bool:
        # Compare on the decrypted value: ciphertexts of one value differ between writes.
        with self._answering():
            raw = self._redis.get(self._key(key))
        if raw is None:
            return False
        stored = Token.from_json(raw)
        if self._decrypt(stored.value) != value:
            return False
        with self._answering():
            return bool(self._compare_and_delete(keys=[self._key(key)], args=[raw]))

    @contextlib.contextmanager
    def lock(self, key: str, *, hold_s: float, wait_s: float) -> Iterator[bool]:
        lock_key = self._key(key) + ":lock"
        owner = secrets.token_hex(16)
        deadline = time.monotonic() + wait_s
        acquired = False
        while True:
            with self._answering():
                taken = self._redis.set(lock_key, owner, nx=True, px=max(1, int(hold_s * 1000)))
            if taken:
                acquired = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(self._poll_s)
        try:
            yield acquired
        finally:
            if acquired:
                self._release(lock_key, owner, hold_s)

    def _release(self, lock_key: str, owner: str, hold_s: float) -> None:
        import redis

        try:
            self._compare_and_delete(keys=[lock_key], args=[owner])
        except redis.RedisError:
            # Raising here would hide the fetch's own outcome; the lock expires by itself.
            logger.warning("Could not release a token lock; it expires within %.0f s", hold_s)


#: How long a process reuses a token it read from a shared store before reading it again.
SHARED_STORE_LOCAL_S = 2.0
#: How long a process answers with a token endpoint's refusal instead of asking it again.
REFUSAL_HOLD_S = 30.0


class TokenCache:
    """Single-flight access to tokens in a ``TokenStore``.

    ``get(key, fetch)`` returns a fresh token. When the token is missing or due, one caller
    (across every process sharing the store) runs ``fetch`` under the key's lock; the others
    wait for the lock and then read what it stored. A token that is due but still valid is
    returned at once to callers that find the lock taken: they need not wait for the refresh.
    """

    def __init__(
        self,
        store: TokenStore,
        *,
        lock_hold_s: float = 30.0,
        lock_wait_s: float = 35.0,
        local_s: float = 0.0,
        refusal_hold_s: float = REFUSAL_HOLD_S,
    ) -> None:
        self.store = store
        self.lock_hold_s = lock_hold_s
        self.lock_wait_s = lock_wait_s
        # A shared store (Redis) is read once per ``local_s`` per key by this process, not once
        # per request; a token another process replaces is picked up by then, or at once
        # after the API refuses the old one (``invalidate`` drops the local copy).
        self.local_s = local_s
        self._local: dict[str, tuple[float, Token]] = {}
        self._refused_value: dict[str, str] = {}  # the last token value the API refused
        # A token endpoint that refused the credentials is not asked again by this process
        # for a while: a column over 10,000 rows must not try to log in 10,000 times (and get
        # the account locked). Saving the account changes the key, so a fix applies at once.
        self.refusal_hold_s = refusal_hold_s
        self._refusals: dict[str, tuple[float, str]] = {}
        self._local_lock = threading.Lock()

    def get(self, key: str, fetch: Callable[[], Token]) -> Token:
        """The cached token for ``key``, fetched once by one caller when missing or due."""
        self._raise_if_refused(key)
        if self.local_s:
            with self._local_lock:
                held = self._local.get(key)
            if held is not None and held[0] > time.monotonic() and held[1].is_fresh():
                return held[1]
        return self._remember(key, self._get(key, fetch))

    def put(self, key: str, token: Token) -> None:
        """Store a token fetched outside ``get`` (a connection test), for every process."""
        self.store.put(key, token)
        self._remember(key, token)
        with self._local_lock:
            self._refusals.pop(key, None)

    def _raise_if_refused(self, key: str) -> None:
        with self._local_lock:
            refusal = self._refusals.get(key)
        if refusal is not None and refusal[0] > time.monotonic():
            raise CredentialsRefused(refusal[1])

    def _remember(self, key: str, token: Token) -> Token:
        if self.local_s:
            with self._local_lock:
                # A caller that read the store just before a refused token left it must not
                # bring that token back into the local copy.
                if self._refused_value.get(key) != token.value:
                    self._local[key] = (time.monotonic() + self.local_s, token)
        return token

    def _get(self, key: str, fetch: Callable[[], Token]) -> Token:
        token = self.store.get(key)
        if token is not None and token.is_fresh():
            return token
        # Due but valid: try for the lock without waiting; someone else may be refreshing.
        wait_s = 0.0 if token is not None and token.is_usable() else self.lock_wait_s
        with self.store.lock(key, hold_s=self.lock_hold_s, wait_s=wait_s) as acquired:
            current = self.store.get(key)
            if current is not None and current.is_fresh():
                return current
            if not acquired:
                if current is not None and current.is_usable():
                    return current
                raise AuthError(
                    "Timed out waiting for another worker to fetch the access token; "
                    "the token endpoint may be slow or unreachable."
                )
            self._raise_if_refused(key)  # refused while this caller waited for the lock
            try:
                fresh = fetch()
            except AuthError as failed:
                if isinstance(failed, CredentialsRefused) and self.refusal_hold_s:
                    with self._local_lock:
                        until = time.monotonic() + self.refusal_hold_s
                        self._refusals[key] = (until, failed.message)
                # A refresh ahead of expiry that fails must not fail requests the current token
                # can still serve; the next caller past the refresh time tries again.
                if current is not None and current.is_usable():
                    return current
                raise
            self.store.put(key, fresh)
            return fresh

    def invalidate(self, key: str, value: str) -> bool:
        """Forget the token for ``key`` if it is still ``value`` (after the API refused it).

        Comparing the value means a burst of 401s for one old token causes one refetch, not one
        per request: the first invalidates, the rest find a different token already cached.
        """
        if self.local_s:
            with self._local_lock:
                self._refused_value[key] = value
                held = self._local.get(key)
                if held is not None and held[1].value == value:
                    del self._local[key]
        return self.store.discard(key, value)


def cache_key(*parts: object) -> str:
    """A store key from everything that changes the token (account, credentials hash, scope…).

    The parts are hashed, so secrets that go into the key never appear in Redis as text.
    """
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:40]
