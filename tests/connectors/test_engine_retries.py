"""Retries: statuses, connection errors, timeouts, backoff and Retry-After."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from email.utils import formatdate

import pytest

from connectors import (
    Engine,
    NetworkError,
    RequestConfig,
    RequestTimeoutError,
    RetryConfig,
    UpstreamStatusError,
)
from connectors.retries import backoff_delay, parse_retry_after
from tests.connectors.conftest import SleepRecorder, fast_retry
from tests.servers import LocalServer, fail_times, json_reply, sleep_then

Make = Callable[..., RequestConfig]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_each_default_retry_status_is_retried(
    engine: Engine, api_server: LocalServer, make_config: Make, status: int
) -> None:
    api_server.route("/flaky", fail_times(1, status=status, then=json_reply({"ok": 1})))
    result = engine.send(make_config(api_server.url("/flaky")))
    assert result.ok and result.value == {"ok": 1}
    assert result.attempts == 2
    assert api_server.count("/flaky") == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 501])
def test_other_statuses_are_not_retried(
    engine: Engine, api_server: LocalServer, make_config: Make, status: int
) -> None:
    api_server.route("/no", json_reply({"error": "no"}, status=status))
    result = engine.send(make_config(api_server.url("/no")))
    assert isinstance(result.error, UpstreamStatusError)
    assert result.error.status == status
    assert result.status == status
    assert result.body == {"error": "no"}
    assert result.value is None
    assert result.attempts == 1


def test_attempts_are_exhausted_then_the_last_answer_is_reported(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/down", json_reply({"error": "down"}, status=503))
    result = engine.send(make_config(api_server.url("/down"), retry=fast_retry(attempts=4)))
    assert result.attempts == 4
    assert api_server.count("/down") == 4
    assert isinstance(result.error, UpstreamStatusError)
    assert result.error.message == "The API answered 503 Service Unavailable."
    assert [a.error for a in result.debug.attempts][:3] == ["The API answered 503."] * 3


def test_retry_statuses_are_configurable(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/conflict", fail_times(1, status=409))
    api_server.route("/error", fail_times(1, status=500))
    retry = fast_retry(statuses=[409])
    assert engine.send(make_config(api_server.url("/conflict"), retry=retry)).attempts == 2
    not_retried = engine.send(make_config(api_server.url("/error"), retry=retry))
    assert not_retried.attempts == 1 and not_retried.status == 500


def test_one_attempt_means_no_retry(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/flaky", fail_times(1, status=503))
    result = engine.send(make_config(api_server.url("/flaky"), retry=fast_retry(attempts=1)))
    assert result.attempts == 1 and result.status == 503


def test_retry_after_seconds_are_honoured(
    recording_engine: Engine, sleeps: SleepRecorder, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/busy", fail_times(2, status=429, retry_after="7"))
    result = recording_engine.send(make_config(api_server.url("/busy")))
    assert result.ok and result.attempts == 3
    assert sleeps.waits == [7.0, 7.0]
    assert [a.wait_s for a in result.debug.attempts] == [7.0, 7.0, None]


def test_retry_after_is_capped(
    recording_engine: Engine, sleeps: SleepRecorder, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/busy", fail_times(1, status=503, retry_after="3600"))
    recording_engine.send(
        make_config(api_server.url("/busy"), retry=fast_retry(max_retry_after_s=2.5))
    )
    assert sleeps.waits == [2.5]


def test_retry_after_http_date_is_honoured(
    recording_engine: Engine, sleeps: SleepRecorder, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route(
        "/busy", fail_times(1, status=429, retry_after=formatdate(time.time() + 30, usegmt=True))
    )
    recording_engine.send(make_config(api_server.url("/busy")))
    assert len(sleeps.waits) == 1
    assert 28 <= sleeps.waits[0] <= 30


def test_retry_after_in_the_past_means_retry_now(
    recording_engine: Engine, sleeps: SleepRecorder, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route(
        "/busy", fail_times(1, status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    )
    recording_engine.send(make_config(api_server.url("/busy")))
    assert sleeps.waits == [0.0]


def test_retry_after_can_be_ignored(
    recording_engine: Engine, sleeps: SleepRecorder, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/busy", fail_times(1, status=429, retry_after="3600"))
    retry = fast_retry(respect_retry_after=False, jitter=False, backoff_s=0.25, max_backoff_s=1)
    recording_engine.send(make_config(api_server.url("/busy"), retry=retry))
    assert sleeps.waits == [0.25]


def test_an_unusable_retry_after_falls_back_to_backoff(
    recording_engine: Engine, sleeps: SleepRecorder, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/busy", fail_times(1, status=503, retry_after="soon"))
    retry = fast_retry(jitter=False, backoff_s=0.5, max_backoff_s=1)
    recording_engine.send(make_config(api_server.url("/busy"), retry=retry))
    assert sleeps.waits == [0.5]


def test_the_wait_really_happens_between_attempts(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/busy", fail_times(1, status=429, retry_after="1"))
    result = engine.send(make_config(api_server.url("/busy")))
    first, second = api_server.requests_to("/busy")
    assert result.ok
    assert second.received_at - first.received_at >= 0.95


def test_backoff_is_exponential_and_capped_without_jitter(
    recording_engine: Engine, sleeps: SleepRecorder, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/down", json_reply({}, status=500))
    retry = {"attempts": 5, "backoff_s": 0.1, "max_backoff_s": 0.3, "jitter": False}
    recording_engine.send(make_config(api_server.url("/down"), retry=retry))
    assert sleeps.waits == pytest.approx([0.1, 0.2, 0.3, 0.3])


def test_full_jitter_stays_between_zero_and_the_exponential_delay() -> None:
    retry = RetryConfig(backoff_s=1, max_backoff_s=100)
    delays = [backoff_delay(retry, 3) for _ in range(200)]
    assert all(0 <= d <= 4 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_errors_are_retried(engine: Engine, make_config: Make) -> None:
    result = engine.send(make_config(f"http://127.0.0.1:{closed_port()}/"))
    assert isinstance(result.error, NetworkError)
    assert result.error.message == "Could not connect to 127.0.0.1."
    assert result.attempts == 3
    assert all(a.error == "Could not connect to 127.0.0.1." for a in result.debug.attempts)


def test_connection_errors_are_not_retried_when_turned_off(
    engine: Engine, make_config: Make
) -> None:
    config = make_config(
        f"http://127.0.0.1:{closed_port()}/", retry=fast_retry(on_connection_errors=False)
    )
    assert engine.send(config).attempts == 1


def test_a_timeout_is_retried_then_reported(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/slow", sleep_then(2.0))
    result = engine.send(
        make_config(api_server.url("/slow"), timeout_s=0.2, retry=fast_retry(attempts=2))
    )
    assert isinstance(result.error, RequestTimeoutError)
    assert result.error.message == "127.0.0.1 did not answer within 0.2 s."
    assert result.attempts == 2
    assert api_server.count("/slow") == 2


def test_a_slow_first_attempt_can_be_rescued_by_a_retry(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    from tests.servers import sequence

    api_server.route("/sometimes-slow", sequence(sleep_then(2.0), json_reply({"fast": True})))
    result = engine.send(make_config(api_server.url("/sometimes-slow"), timeout_s=0.3))
    assert result.ok and result.value == {"fast": True} and result.attempts == 2


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("120", 120.0), (" 5 ", 5.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_parse_retry_after(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_dates_relative_to_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10.0


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "", "Wed, 21 Oct 2015"])
def test_parse_retry_after_rejects_garbage(value: str) -> None:
    assert parse_retry_after(value) is None
