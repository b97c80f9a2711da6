"""Sign-in throttling: failed sign-ins are counted per username and per client address.

``ENRICH_SIGN_IN_MAX_FAILURES`` failed sign-ins for one username (from anywhere), or
``ENRICH_SIGN_IN_MAX_FAILURES_PER_IP`` from one address (for any usernames), within
``ENRICH_SIGN_IN_LOCKOUT_S`` lock that username or address out for ``ENRICH_SIGN_IN_LOCKOUT_S``.
While locked out, sign-in is refused *before* the password is checked, so even the right
password is refused until the lock-out ends, and an unknown username is locked out exactly like
a real one (the answer never says whether an account exists).

The counters live in Django's default cache: Redis when ``REDIS_URL`` is set, so every web
process shares them, and the local-memory cache of the one process otherwise. Both the app's
sign-in page and ``/admin/login/`` go through ``ThrottledSignInForm``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from redis.exceptions import RedisError

from accounts.exceptions import SignInLocked, SignInUnavailable

KEY_PREFIX = "sign-in"


@dataclass(frozen=True)
class _Subject:
    """One thing sign-ins are counted for: a username or a client address."""

    kind: str
    value: str
    limit: int

    @property
    def digest(self) -> str:
        # Hashed: cache keys stay short and safe whatever a username holds, and Redis never
        # lists the usernames or addresses that were tried.
        return hashlib.sha256(self.value.encode()).hexdigest()[:32]

    @property
    def failures_key(self) -> str:
        return f"{KEY_PREFIX}:failures:{self.kind}:{self.digest}"

    @property
    def locked_key(self) -> str:
        return f"{KEY_PREFIX}:locked:{self.kind}:{self.digest}"


def client_address(request: HttpRequest) -> str:
    """The address a sign-in comes from, as a throttling key.

    Behind ``ENRICH_TRUSTED_PROXY_COUNT`` proxies the client is the entry that many places from
    the right of ``X-Forwarded-For`` (each proxy appends the address it was reached from, so
    the entries left of it are whatever the client chose to send). IPv6 clients are counted
    per /64, the block one subscriber usually holds.
    """
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.ENRICH_TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _subjects(*, request: HttpRequest, username: str) -> list[_Subject]:
    return [
        _Subject("user", username.strip().casefold(), settings.ENRICH_SIGN_IN_MAX_FAILURES),
        _Subject("ip", client_address(request), settings.ENRICH_SIGN_IN_MAX_FAILURES_PER_IP),
    ]


def sign_in_check(*, request: HttpRequest, username: str) -> None:
    """Raise ``SignInLocked`` when this username or this client is locked out, and
    ``SignInUnavailable`` when the counters cannot be read: sign-in fails closed, or an
    attacker who can overload Redis would guess unthrottled."""
    keys = [subject.locked_key for subject in _subjects(request=request, username=username)]
    try:
        locks = cache.get_many(keys)
    except (RedisError, OSError):
        raise SignInUnavailable() from None
    now = time.time()
    ends = [until for until in locks.values() if isinstance(until, int | float) and until > now]
    if ends:
        raise SignInLocked(minutes=max(1, math.ceil((max(ends) - now) / 60)))


def sign_in_failed(*, request: HttpRequest, username: str) -> None:
    """Count one failed sign-in; the one that reaches a limit starts the lock-out."""
    try:
        _count_failure(request=request, username=username)
    except (RedisError, OSError):
        raise SignInUnavailable() from None


def _count_failure(*, request: HttpRequest, username: str) -> None:
    lockout_s = settings.ENRICH_SIGN_IN_LOCKOUT_S
    for subject in _subjects(request=request, username=username):
        # add + incr are atomic in Redis and in the local cache, so concurrent failures from
        # many web processes are all counted. The counter expires one lock-out time after the
        # first failure it counts.
        if cache.add(subject.failures_key, 1, timeout=lockout_s):
            failures = 1
        else:
            try:
                failures = cache.incr(subject.failures_key)
            except ValueError:  # expired between add and incr
                cache.set(subject.failures_key, 1, timeout=lockout_s)
                failures = 1
        if failures >= subject.limit:
            # add, not set: failures during a lock-out do not extend it.
            cache.add(subject.locked_key, time.time() + lockout_s, timeout=lockout_s)
            cache.delete(subject.failures_key)


def sign_in_succeeded(*, request: HttpRequest, username: str) -> None:
    """Forget the username's failures. The address's stay: signing in to an account of one's
    own must not buy more guesses at the others."""
    user, _address = _subjects(request=request, username=username)
    # Unreachable, the failures expire by themselves; the sign-in itself succeeded.
    with contextlib.suppress(RedisError, OSError):
        cache.delete(user.failures_key)
