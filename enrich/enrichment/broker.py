"""What the run engine asks the broker itself: can it be reached, how many tasks wait, did it
restart empty. Each question fails soft (None) so a broker outage never crashes a caller.

The restart question is answered by a marker key kept in the broker beside the queue: a Redis
that restarts without persistence comes back without it, and so without its queued tasks. The
filesystem broker of the embedded default keeps its files, so it never reports a restart.
"""

from __future__ import annotations

import logging
import secrets

import redis
from django.conf import settings
from kombu.exceptions import ChannelError, KombuError
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

#: What a send or a question to an unreachable broker raises.
BROKER_ERRORS: tuple[type[Exception], ...] = (OSError, KombuError, RedisError)
#: A question to the broker gives up this fast: callers retry on their own timer.
PROBE_TIMEOUT_S = 2.0


def _redis_broker() -> redis.Redis | None:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis.Redis.from_url(
        url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S
    )


def broker_reachable() -> bool:
    """True when the broker answers now."""
    client = _redis_broker()
    if client is None:
        return True
    try:
        with client:
            return bool(client.ping())
    except RedisError:
        return False


def broker_epoch() -> str | None:
    """The broker's marker for this queue (set now if missing); None when it cannot answer.

    A marker different from the one seen before means the broker lost every queued task."""
    client = _redis_broker()
    if client is None:
        return "filesystem"
    key = f"enrich:broker-epoch:{settings.CELERY_TASK_DEFAULT_QUEUE}"
    try:
        with client:
            client.set(key, secrets.token_hex(8), nx=True)
            value = client.get(key)
    except RedisError:
        return None
    return value.decode() if isinstance(value, bytes) else None


def queue_length() -> int | None:
    """Messages waiting in the task queue (None if the broker cannot say)."""
    from enrich.celery import app

    try:
        with app.connection_for_write() as connection:
            # kombu-stubs copy the docstring's `timeout (int)`; retry_over_time only compares
            # elapsed seconds with it, so a float works.
            connection.ensure_connection(
                max_retries=1,
                timeout=PROBE_TIMEOUT_S,  # type: ignore[arg-type]
            )
            # The stubs type default_channel as the StdChannel base, which declares no
            # queue_declare; every transport's channel (virtual or pyamqp) has it.
            declared = connection.default_channel.queue_declare(  # type: ignore[attr-defined]
                queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True
            )
            return int(declared.message_count)
    except ChannelError:
        return 0  # Redis keeps no key for an empty queue: "no such queue" means none waiting
    except BROKER_ERRORS:
        # A broker that cannot answer means "don't know": nothing is sent again on a guess.
        logger.warning("Could not read the length of the task queue (broker unreachable)")
        return None
