"""Rate limits shared by every thread, process and machine that sends for the same key.

A store answers one question atomically: "may I send now?" It either takes a slot and says
yes, or takes nothing and says how long until a slot frees up. The engine does the waiting, so a
store is one small operation: an in-process sliding window, a Redis sorted set updated by a Lua
script, or (on the Django side) a cache-backed counter. A store that cannot answer raises
``RateLimitStoreError``, which the engine reports like any other ``ConnectorError``: the
request is not sent, and the caller (a cell) shows the message instead of crashing.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from connectors.errors import ConnectorError

if TYPE_CHECKING:
    import redis


class RateLimitStoreError(ConnectorError):
    """The shared rate-limit store (Redis) did not answer: the request is not sent, since
    sending without a slot could exceed the API's limit for every worker at once."""

    code = "rate_limit_store"
    default_message = "The shared rate-limit store did not answer."


class RateLimitStore(Protocol):
    """Where rate-limit windows live."""

    def acquire(self, key: str, *, limit: int, period_ms: int) -> float:
        """Take a slot for ``key`` if fewer than ``limit`` were taken in the last ``period_ms``
        milliseconds and return 0; otherwise take nothing and return the seconds to wait before
        asking again. Raises ``RateLimitStoreError`` when the store cannot answer."""
        ...


class InMemoryRateLimitStore:
    """A sliding-window log per key, for the threads of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, *, limit: int, period_ms: int) -> float:
        """See ``RateLimitStore.acquire``."""
        period = period_ms / 1000
        with self._lock:
            now = self._clock()
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - period:
                window.popleft()
            if len(window) < limit:
                window.append(now)
                return 0.0
            return max(window[0] + period - now, 0.001)


# A sorted set per key holds the send times of the current window. Time comes from the Redis
# server so that machines with skewed clocks still share one window. Scripts run atomically.
_ACQUIRE_SCRIPT = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, period)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + period - now)
"""


class RedisRateLimitStore:
    """A sliding-window log per key in Redis, shared by every process using the same server."""

    def __init__(self, client: redis.Redis, *, key_prefix: str = "enrich:ratelimit:") -> None:
        self._client = client
        self._prefix = key_prefix
        self._acquire: Any = client.register_script(_ACQUIRE_SCRIPT)

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str = "enrich:ratelimit:") -> RedisRateLimitStore:
        """Connect to ``redis://`` or ``rediss://`` ``url``."""
        import redis as redis_module  # imported here: only deployments with Redis need it

        return cls(redis_module.Redis.from_url(url), key_prefix=key_prefix)

    def acquire(self, key: str, *, limit: int, period_ms: int) -> float:
        """See ``RateLimitStore.acquire``; a Redis failure is a ``RateLimitStoreError``."""
        import redis as redis_module

        try:
            wait_ms = self._acquire(
                keys=[self._prefix + key], args=[limit, period_ms, uuid.uuid4().hex]
            )
        except redis_module.RedisError as exc:
            raise RateLimitStoreError(
                f"The shared rate-limit store (Redis) did not answer ({type(exc).__name__}); "
                "check that Redis is running and REDIS_URL points at it."
            ) from None
        return int(wait_ms) / 1000
