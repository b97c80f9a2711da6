"""The token cache: refresh ahead of expiry, compare-and-delete, single flight across threads
and across processes sharing Redis."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.auth.token_store import (
    MAX_LIFETIME_S,
    InMemoryTokenStore,
    RedisTokenStore,
    Token,
    TokenCache,
    cache_key,
)
from connectors.errors import AuthError

REDIS_URL = os.environ.get("ENRICH_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


def redis_client():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return client


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        return InMemoryTokenStore()
    return RedisTokenStore(redis_client(), prefix=f"enrich-test:{uuid.uuid4().hex}:")


def test_a_token_is_refreshed_at_the_larger_of_60_seconds_and_a_tenth_of_its_life() -> None:
    five_minutes = Token.issued("t", lifetime_s=300, now=0)
    hour = Token.issued("t", lifetime_s=3600, now=0)
    assert hour.expires_at == 3600
    assert 300 - 60 - 5 <= five_minutes.refresh_at <= 300 - 60
    assert 3600 - 360 - 5 <= hour.refresh_at <= 3600 - 360


def test_a_five_second_token_is_refreshed_before_it_dies() -> None:
    token = Token.issued("t", lifetime_s=5, now=0)
    assert 0 < token.refresh_at <= 2.5
    assert token.is_fresh(now=token.refresh_at - 0.01)
    assert not token.is_fresh(now=token.refresh_at)
    assert token.is_usable(now=4.9)


def test_the_token_value_never_shows_in_its_repr() -> None:
    assert "s3cret" not in repr(Token.issued("s3cret", lifetime_s=60))


def test_put_get_and_discard_only_the_same_value(store) -> None:
    store.put("k", Token.issued("one", lifetime_s=60))
    assert store.get("k").value == "one"
    assert store.discard("k", "other") is False
    assert store.get("k").value == "one"
    assert store.discard("k", "one") is True
    assert store.get("k") is None


def test_an_expired_token_is_gone(store) -> None:
    store.put("k", Token("old", expires_at=time.time() - 1, refresh_at=time.time() - 2))
    assert store.get("k") is None


def test_redis_keeps_token_values_encrypted_when_given_a_cipher() -> None:
    client = redis_client()
    prefix = f"enrich-test:{uuid.uuid4().hex}:"
    store = RedisTokenStore(
        client, prefix=prefix, encrypt=lambda text: text[::-1], decrypt=lambda text: text[::-1]
    )
    store.put("k", Token.issued("plain-token", lifetime_s=60))
    assert b"plain-token" not in client.get(prefix + "k")
    assert store.get("k").value == "plain-token"
    assert store.discard("k", "plain-token") is True


def test_a_lock_whose_holder_died_expires(store) -> None:
    with store.lock("k", hold_s=0.3, wait_s=0) as first:
        assert first
        if isinstance(store, RedisTokenStore):
            # Another process finds it taken, then free once the holder's time is up.
            with store.lock("k", hold_s=1, wait_s=0) as second:
                assert not second
            time.sleep(0.35)
            with store.lock("k", hold_s=1, wait_s=0) as third:
                assert third


def test_64_threads_needing_a_token_cause_one_fetch(store) -> None:
    cache = TokenCache(store)
    calls = []

    def fetch() -> Token:
        calls.append(1)
        time.sleep(0.2)  # a slow token endpoint: everyone else arrives meanwhile
        return Token.issued(f"token-{len(calls)}", lifetime_s=3600)

    barrier = threading.Barrier(64)

    def need_token(_: int) -> str:
        barrier.wait()
        return cache.get("account-1", fetch).value

    with ThreadPoolExecutor(64) as pool:
        values = list(pool.map(need_token, range(64)))

    assert len(calls) == 1
    assert set(values) == {"token-1"}


def test_a_due_token_is_still_served_while_another_caller_refreshes(store) -> None:
    cache = TokenCache(store)
    now = time.time()
    store.put("k", Token("old", expires_at=now + 30, refresh_at=now - 1))
    with store.lock("k", hold_s=5, wait_s=0):
        # Someone else holds the lock: the still-valid token comes back without waiting.
        started = time.monotonic()
        assert cache.get("k", lambda: pytest.fail("must not fetch")).value == "old"
        assert time.monotonic() - started < 0.5
    assert cache.get("k", lambda: Token.issued("new", lifetime_s=3600)).value == "new"


def test_waiting_too_long_for_a_missing_token_is_a_clear_error(store) -> None:
    cache = TokenCache(store, lock_wait_s=0.2)
    with (
        store.lock("k", hold_s=5, wait_s=0),
        pytest.raises(AuthError, match="Timed out waiting for another worker"),
    ):
        cache.get("k", lambda: Token.issued("never", lifetime_s=60))


def test_invalidating_an_old_value_keeps_the_new_token(store) -> None:
    cache = TokenCache(store)
    first = cache.get("k", lambda: Token.issued("first", lifetime_s=3600))
    assert cache.invalidate("k", first.value) is True
    second = cache.get("k", lambda: Token.issued("second", lifetime_s=3600))
    # A late 401 for the first token must not throw away the second.
    assert cache.invalidate("k", first.value) is False
    assert store.get("k").value == second.value


def test_cache_keys_hash_their_parts() -> None:
    key = cache_key("account", 7, "password-hash", "scope")
    assert "password" not in key
    assert key == cache_key("account", 7, "password-hash", "scope")
    assert key != cache_key("account", 7, "password-hash", "other scope")


def _fetch_in_process(prefix: str, counter: str, results: multiprocessing.Queue) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    cache = TokenCache(RedisTokenStore(client, prefix=prefix))

    def fetch() -> Token:
        number = client.incr(counter)
        time.sleep(0.3)
        return Token.issued(f"token-{number}", lifetime_s=3600)

    start = float(client.get(prefix + "start"))
    time.sleep(max(0.0, start - time.time()))
    with ThreadPoolExecutor(16) as pool:
        values = list(pool.map(lambda _: cache.get("shared", fetch).value, range(16)))
    results.put(values)


def test_64_requests_across_4_processes_cause_one_fetch() -> None:
    client = redis_client()
    prefix = f"enrich-test:{uuid.uuid4().hex}:"
    counter = prefix + "fetches"
    client.set(prefix + "start", time.time() + 1.5)  # every process starts at this moment
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=_fetch_in_process, args=(prefix, counter, results)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    values = [value for _ in processes for value in results.get(timeout=60)]
    for process in processes:
        process.join(timeout=30)

    assert len(values) == 64
    assert int(client.get(counter)) == 1
    assert set(values) == {"token-1"}
    client.delete(*client.keys(prefix + "*"))


def test_a_failed_refresh_keeps_serving_the_token_that_is_still_valid(store) -> None:
    cache = TokenCache(store)
    now = time.time()
    store.put("due", Token("still-valid", expires_at=now + 60, refresh_at=now - 1))

    def token_endpoint_down() -> Token:
        raise AuthError("The token endpoint https://auth.example/token answered 503.")

    assert cache.get("due", token_endpoint_down).value == "still-valid"
    with pytest.raises(AuthError, match="answered 503"):
        cache.get("missing", token_endpoint_down)


def test_an_absurd_lifetime_is_capped() -> None:
    token = Token.issued("t", lifetime_s=float("inf"), now=0)
    assert token.expires_at == MAX_LIFETIME_S
    assert token.is_fresh(now=0)


def test_a_process_reads_a_shared_token_once_per_local_period(store) -> None:
    """Two caches on one store stand for two workers sharing Redis."""
    here, there = TokenCache(store, local_s=0.3), TokenCache(store)
    first = here.get("k", lambda: Token.issued("first", lifetime_s=3600))
    store.put("k", Token.issued("second", lifetime_s=3600))  # another worker replaced it

    assert here.get("k", pytest.fail).value == first.value  # still the copy read just now
    time.sleep(0.35)
    assert here.get("k", pytest.fail).value == "second"
    assert there.get("k", pytest.fail).value == "second"


def test_a_refused_token_is_dropped_from_the_local_copy_at_once(store) -> None:
    here, there = TokenCache(store, local_s=60), TokenCache(store, local_s=60)
    first = here.get("k", lambda: Token.issued("first", lifetime_s=3600))
    assert there.invalidate("k", first.value) is True
    newer = there.get("k", lambda: Token.issued("second", lifetime_s=3600))

    # The API refused "first" here too: the next request reads the store, not the old copy.
    assert here.invalidate("k", first.value) is False
    assert here.get("k", pytest.fail).value == newer.value


def test_a_refused_token_read_late_from_the_store_is_not_kept(store) -> None:
    here = TokenCache(store, local_s=60)
    store.put("k", Token.issued("old", lifetime_s=3600))
    late_reader = store.get("k")  # a thread read "old" just before another one refused it
    here.invalidate("k", "old")
    here.put("k", Token.issued("new", lifetime_s=3600))

    here._remember("k", late_reader)

    assert here.get("k", pytest.fail).value == "new"


def test_a_refusal_is_held_instead_of_asking_again_for_every_request(store) -> None:
    from connectors.errors import CredentialsRefused

    calls = []

    def refuse() -> Token:
        calls.append(1)
        raise CredentialsRefused("The token endpoint answered 401 Unauthorized.")

    cache = TokenCache(store, refusal_hold_s=0.3)
    for _ in range(20):
        with pytest.raises(CredentialsRefused, match="401 Unauthorized"):
            cache.get("k", refuse)
    assert len(calls) == 1

    time.sleep(0.35)
    with pytest.raises(CredentialsRefused):
        cache.get("k", refuse)
    assert len(calls) == 2

    # A token stored by a successful connection test ends the hold at once.
    cache.put("k", Token.issued("works", lifetime_s=3600))
    assert cache.get("k", refuse).value == "works"


def test_a_transient_failure_is_not_held(store) -> None:
    calls = []

    def unreachable() -> Token:
        calls.append(1)
        raise AuthError("Could not reach the token endpoint.")

    cache = TokenCache(store)
    for _ in range(3):
        with pytest.raises(AuthError):
            cache.get("k", unreachable)
    assert len(calls) == 3
