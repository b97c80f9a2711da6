"""Size caps: huge answers and gzip bombs stop at max_response_bytes with flat memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from connectors import (
    Engine,
    RequestConfig,
    ResponseTooLargeError,
    Result,
    TemplateContext,
    TemplateError,
)
from tests.servers import LocalServer, Reply, gzip_bomb, huge_body

Make = Callable[..., RequestConfig]
MB = 1024 * 1024


def send_measuring_peak(engine: Engine, config: RequestConfig) -> tuple[Result, int]:
    """Send and return the peak of memory allocated by Python meanwhile."""
    tracemalloc.start()
    try:
        result = engine.send(config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.timeout(60)
def test_a_gzip_bomb_stops_at_the_cap_with_flat_memory(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/bomb", gzip_bomb(100 * MB))
    result, peak = send_measuring_peak(
        engine, make_config(api_server.url("/bomb"), max_response_bytes=1 * MB)
    )
    assert isinstance(result.error, ResponseTooLargeError)
    assert result.error.message == (
        "The API's answer is larger than the 1,048,576 byte limit "
        "(raise max_response_bytes or ask for less data)."
    )
    assert result.attempts == 1
    # 100 MB inflated would need 100 MB; the cap keeps the peak near 1 MB plus buffers.
    assert peak < 6 * MB


@pytest.mark.timeout(60)
def test_a_huge_streamed_answer_without_length_stops_at_the_cap(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/huge", huge_body(200 * MB, announce_length=False))
    result, peak = send_measuring_peak(
        engine, make_config(api_server.url("/huge"), max_response_bytes=1 * MB)
    )
    assert isinstance(result.error, ResponseTooLargeError)
    assert peak < 6 * MB


def test_an_announced_length_over_the_cap_stops_before_reading(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/huge", huge_body(500 * MB))
    result, peak = send_measuring_peak(
        engine, make_config(api_server.url("/huge"), max_response_bytes=MB)
    )
    assert isinstance(result.error, ResponseTooLargeError)
    assert peak < 2 * MB


def test_an_answer_exactly_at_the_cap_is_accepted(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/exact", lambda r: Reply(body=b'"' + b"a" * 98 + b'"'))
    assert engine.send(make_config(api_server.url("/exact"), max_response_bytes=100)).ok
    too_big = engine.send(make_config(api_server.url("/exact"), max_response_bytes=99))
    assert isinstance(too_big.error, ResponseTooLargeError)


def test_the_cap_counts_decoded_bytes(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/bomb", gzip_bomb(10_000))
    assert engine.send(make_config(api_server.url("/bomb"), max_response_bytes=10_000)).ok
    result = engine.send(make_config(api_server.url("/bomb"), max_response_bytes=9_999))
    assert isinstance(result.error, ResponseTooLargeError)


def test_a_request_body_over_the_limit_is_refused_before_sending(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/upload", lambda r: Reply())
    config = make_config(api_server.url("/upload"), method="POST", body=["{{ row.blob }}"] * 11)
    result = engine.send(config, context=TemplateContext(row={"blob": "x" * MB}))
    assert isinstance(result.error, TemplateError)
    assert "The body renders to more than" in result.error.message
    assert api_server.count() == 0
