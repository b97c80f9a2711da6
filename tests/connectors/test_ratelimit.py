"""Rate limits: in one process, and shared by two processes through Redis."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from connectors import (
    Engine,
    InMemoryRateLimitStore,
    NetworkPolicy,
    RateLimitTimeoutError,
    RedisRateLimitStore,
    RequestConfig,
)
from connectors.ratelimit import RateLimitStoreError
from tests.redis_server import PrivateRedis
from tests.servers import LocalServer, json_reply

Make = Callable[..., RequestConfig]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]


def most_in_any_window(arrivals: list[float], window_s: float) -> int:
    """The largest number of arrivals inside any window of ``window_s`` seconds."""
    times = sorted(arrivals)
    return max(sum(1 for t in times[i:] if t - start < window_s) for i, start in enumerate(times))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_in_memory_store_is_a_sliding_window() -> None:
    clock = FakeClock()
    store = InMemoryRateLimitStore(clock=clock)
    assert store.acquire("k", limit=2, period_ms=1000) == 0
    clock.now += 0.4
    assert store.acquire("k", limit=2, period_ms=1000) == 0
    assert store.acquire("k", limit=2, period_ms=1000) == pytest.approx(0.6)
    assert store.acquire("other", limit=2, period_ms=1000) == 0
    clock.now += 0.6
    assert store.acquire("k", limit=2, period_ms=1000) == 0
    assert store.acquire("k", limit=2, period_ms=1000) == pytest.approx(0.4)


def test_concurrent_requests_in_one_process_respect_the_limit(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/limited", json_reply({"ok": True}))
    config = make_config(api_server.url("/limited"), rate_limit={"requests": 3, "per_ms": 300})
    with ThreadPoolExecutor(max_workers=7) as pool:
        results = list(pool.map(lambda _: engine.send(config), range(7)))
    assert all(r.ok for r in results)
    arrivals = [r.received_at for r in api_server.requests_to("/limited")]
    # 300 ms windows minus some slack for the hop from the limiter to the server.
    assert most_in_any_window(arrivals, 0.25) <= 3
    assert max(arrivals) - min(arrivals) >= 0.5


def test_waiting_longer_than_max_wait_fails_clearly(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/limited", json_reply({"ok": True}))
    config = make_config(
        api_server.url("/limited"),
        rate_limit={"requests": 1, "per_ms": 60_000, "max_wait_s": 0.05},
    )
    assert engine.send(config).ok
    second = engine.send(config)
    assert isinstance(second.error, RateLimitTimeoutError)
    assert second.error.message == (
        "No rate-limit slot was free within 0.05 s (rate_limit.max_wait_s)."
    )
    assert api_server.count("/limited") == 1


@pytest.fixture
def redis_store() -> Iterator[tuple[RedisRateLimitStore, str]]:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    prefix = f"test:ratelimit:{uuid.uuid4().hex}:"
    yield RedisRateLimitStore(client, key_prefix=prefix), prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_the_redis_store_is_a_sliding_window(redis_store: tuple[RedisRateLimitStore, str]) -> None:
    store, _ = redis_store
    assert store.acquire("k", limit=2, period_ms=10_000) == 0
    assert store.acquire("k", limit=2, period_ms=10_000) == 0
    wait = store.acquire("k", limit=2, period_ms=10_000)
    assert 9 < wait <= 10
    assert store.acquire("other", limit=2, period_ms=10_000) == 0


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_a_stopped_redis_is_a_named_error_and_the_request_is_not_sent(
    api_server: LocalServer, make_config: Make, tmp_path: Path
) -> None:
    api_server.route("/limited", json_reply({"ok": True}))
    config = make_config(api_server.url("/limited"), rate_limit={"requests": 5, "per_ms": 1000})
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        engine = Engine(
            network_policy=NetworkPolicy.allowing("127.0.0.0/8"),
            rate_limit_store=RedisRateLimitStore.from_url(server.url),
        )
        assert engine.send(config).ok  # the store answers while Redis runs
        server.kill()
        result = engine.send(config)
    finally:
        server.kill()

    assert isinstance(result.error, RateLimitStoreError)
    assert result.error.code == "rate_limit_store"
    assert result.error.message == (
        "The shared rate-limit store (Redis) did not answer (ConnectionError); "
        "check that Redis is running and REDIS_URL points at it."
    )
    # Without a slot nothing is sent: every worker sending unlimited could break the API's limit.
    assert api_server.count("/limited") == 1


def start_cli(document_file: Path, args: tuple[str, ...]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connectors", "send", str(document_file), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


@pytest.mark.timeout(60)
def test_two_processes_share_one_limit_through_redis(
    api_server: LocalServer, redis_store: tuple[RedisRateLimitStore, str], tmp_path: Path
) -> None:
    api_server.route("/shared", json_reply({"ok": True}))
    _, prefix = redis_store
    document = {
        "request": {
            "endpoint": api_server.url("/shared"),
            "rate_limit": {"requests": 4, "per_ms": 500},
        }
    }
    args = (
        "--allow-network",
        "127.0.0.0/8",
        "--repeat",
        "6",
        "--concurrency",
        "3",
        "--rate-limit-store",
        REDIS_URL,
        # A key of its own per run; the window's Redis key expires after 500 ms by itself.
        "--rate-limit-key",
        f"{prefix}shared",
    )
    document_file = tmp_path / "request.json"
    document_file.write_text(json.dumps(document))
    processes = [start_cli(document_file, args) for _ in range(2)]
    outputs = [process.communicate(timeout=50) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        assert json.loads(stdout)["by_status"] == {"200": 6}
    arrivals = [r.received_at for r in api_server.requests_to("/shared")]
    assert len(arrivals) == 12
    # 4 per 500 ms across both processes; 100 ms of slack for process scheduling.
    assert most_in_any_window(arrivals, 0.4) <= 4
    assert max(arrivals) - min(arrivals) >= 0.9
