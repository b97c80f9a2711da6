"""Fixtures for the request-engine tests: local servers and an engine allowed to reach them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors import Engine, NetworkPolicy, RequestConfig
from tests.servers import LocalServer

LOOPBACK = ("127.0.0.0/8", "::1/128")


@pytest.fixture
def api_server() -> Iterator[LocalServer]:
    """The API under test, on 127.0.0.1."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    """A second server: another port is another origin."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def engine() -> Engine:
    """An engine that may reach loopback (and only that, besides the public internet)."""
    return Engine(network_policy=NetworkPolicy.allowing(*LOOPBACK))


class SleepRecorder:
    """Stands in for ``time.sleep``: records the waits the engine asks for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def recording_engine(sleeps: SleepRecorder) -> Engine:
    """A loopback engine whose waits are recorded instead of slept."""
    return Engine(network_policy=NetworkPolicy.allowing(*LOOPBACK), sleep=sleeps)


def fast_retry(**overrides: Any) -> dict[str, Any]:
    """Retry settings with millisecond backoffs, so tests stay fast."""
    return {"backoff_s": 0.001, "max_backoff_s": 0.01, **overrides}


@pytest.fixture
def make_config() -> Callable[..., RequestConfig]:
    """Build a ``RequestConfig`` with fast retries unless told otherwise."""

    def make(endpoint: str, **fields: Any) -> RequestConfig:
        fields.setdefault("retry", fast_retry())
        return RequestConfig(endpoint=endpoint, **fields)

    return make
