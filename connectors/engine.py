"""Sending one request: render, guard, rate-limit, send, follow, retry, read, filter, record.

``Engine.send`` is the one way in; read it top to bottom. Nothing here raises for an expected
failure: every outcome comes back as a ``Result`` carrying a typed error and a masked debug
record. Programming errors still raise.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.auth.base import NoAuth
from connectors.config import RateLimitConfig, RequestConfig
from connectors.debug import (
    AttemptRecord,
    DebugRecord,
    HopRecord,
    Masker,
    display_headers,
    display_url,
    excerpt,
)
from connectors.errors import (
    ConfigError,
    ConnectorError,
    NetworkError,
    RateLimitTimeoutError,
    RequestTimeoutError,
    TooManyRedirectsError,
    UpstreamStatusError,
)
from connectors.filtering import filter_response
from connectors.network import NetworkPolicy
from connectors.ratelimit import InMemoryRateLimitStore, RateLimitStore
from connectors.redirects import Credentials, next_request, redirect_location, same_origin
from connectors.request import RenderedRequest, render_request
from connectors.response import charset, parse_body, read_body
from connectors.result import Result
from connectors.retries import backoff_delay, retry_delay
from connectors.templating import TemplateContext
from connectors.transport import shared_client


@dataclass
class _Exchange:
    """What one ``send`` call has done so far (private to the engine)."""

    config: RequestConfig
    context: TemplateContext
    auth: httpx.Auth
    rendered: RenderedRequest | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    hop_urls: list[httpx.URL] = field(default_factory=list)
    sent_request: httpx.Request | None = None
    response: httpx.Response | None = None
    body: bytes | None = None

    def credentials(self) -> Credentials:
        """Everything that must not follow a redirect to another origin."""
        rendered = self.rendered
        assert rendered is not None
        return Credentials(
            headers=frozenset(
                {*(h.lower() for h in _auth_headers(self.auth)), *rendered.secret_header_templates}
            ),
            query_params=frozenset({*_auth_query_params(self.auth), *rendered.secret_query_params}),
            values=self.context.secret_values() | _auth_secret_values(self.auth),
        )


def _auth_headers(auth: httpx.Auth) -> frozenset[str]:
    return frozenset(getattr(auth, "credential_headers", frozenset()))


def _auth_query_params(auth: httpx.Auth) -> frozenset[str]:
    return frozenset(getattr(auth, "credential_query_params", frozenset()))


def _auth_secret_values(auth: httpx.Auth) -> frozenset[str]:
    secret_values = getattr(auth, "secret_values", None)
    return frozenset(secret_values()) if callable(secret_values) else frozenset()


@contextmanager
def _http_errors(url: httpx.URL, timeout_s: float) -> Iterator[None]:
    """Turn httpx's exceptions into the engine's named errors."""
    host = url.host
    try:
        yield
    except httpx.TimeoutException:
        raise RequestTimeoutError(f"{host} did not answer within {timeout_s:g} s.") from None
    except httpx.ConnectError:
        raise NetworkError(f"Could not connect to {host}.") from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        raise NetworkError(
            f"The connection to {host} broke before the answer was complete."
        ) from None
    except httpx.LocalProtocolError:
        raise ConfigError(
            "The request cannot be sent: a header name or value is invalid."
        ) from None
    except httpx.HTTPError as exc:
        raise NetworkError(f"The request to {host} failed ({type(exc).__name__}).") from None


class Engine:
    """Sends request configs through one pooled, SSRF-guarded client.

    Build one per process (or use ``send``), with the networks it may reach beyond the public
    internet and a rate-limit store shared by the workers. Thread-safe.
    """

    def __init__(
        self,
        *,
        network_policy: NetworkPolicy | None = None,
        rate_limit_store: RateLimitStore | None = None,
        verify: ssl.SSLContext | bool = True,
        sleep: Any = time.sleep,
    ) -> None:
        self.network_policy = network_policy or NetworkPolicy()
        self.rate_limit_store: RateLimitStore = rate_limit_store or InMemoryRateLimitStore()
        self._verify = verify
        self._sleep = sleep
        self._client: tuple[int, httpx.Client] | None = None

    @property
    def client(self) -> httpx.Client:
        """The process's shared client for this engine's network policy."""
        cached = self._client
        if cached is None or cached[0] != os.getpid():
            cached = self._client = (
                os.getpid(),
                shared_client(self.network_policy, verify=self._verify),
            )
        return cached[1]

    def send(
        self,
        config: RequestConfig,
        *,
        context: TemplateContext | None = None,
        auth: httpx.Auth | None = None,
        rate_limit_key: str | None = None,
    ) -> Result:
        """Send ``config`` rendered for ``context``'s row, with ``auth`` applied to each request
        that goes to the endpoint's origin. Never raises a ``ConnectorError``: see ``Result``."""
        started = time.perf_counter()
        exchange = _Exchange(config, context or TemplateContext(), auth or NoAuth())
        error: ConnectorError | None = None
        try:
            exchange.rendered = render_request(config, exchange.context)
            self.network_policy.check_url(exchange.rendered.url)
            self._send_with_retries(exchange, rate_limit_key)
        except ConnectorError as exc:
            error = exc
        return self._result(exchange, error, elapsed_ms=(time.perf_counter() - started) * 1000)

    def _send_with_retries(self, exchange: _Exchange, rate_limit_key: str | None) -> None:
        retry = exchange.config.retry
        for number in range(1, retry.attempts + 1):
            attempt = AttemptRecord(number=number)
            exchange.attempts.append(attempt)
            last = number == retry.attempts
            try:
                delay = self._attempt(
                    exchange,
                    attempt,
                    retry_statuses=None if last else retry.statuses,
                    rate_limit_key=rate_limit_key,
                )
            except NetworkError as exc:
                attempt.error = exc.message
                if last or not retry.on_connection_errors:
                    raise
                delay = backoff_delay(retry, number)
            if delay is None:
                return
            attempt.wait_s = round(delay, 3)
            self._sleep(delay)

    def _attempt(
        self,
        exchange: _Exchange,
        attempt: AttemptRecord,
        *,
        retry_statuses: frozenset[int] | None,
        rate_limit_key: str | None,
    ) -> float | None:
        """One attempt; returns the delay before retrying, or None once the answer is read."""
        config, rendered = exchange.config, exchange.rendered
        assert rendered is not None
        request = self.client.build_request(
            rendered.method,
            rendered.url,
            headers=_encode_headers(rendered.headers),
            content=rendered.content,
            timeout=config.timeout_s,
        )
        if config.rate_limit is not None:
            # Taken as late as possible, so the slot's time is the time the request leaves.
            key = rate_limit_key or _default_rate_limit_key(rendered.url, config.rate_limit)
            self._wait_for_slot(config.rate_limit, key)
        deadline = time.monotonic() + config.timeout_s
        response = self._follow_redirects(exchange, attempt, request, deadline)
        try:
            if retry_statuses is not None and response.status_code in retry_statuses:
                attempt.error = f"The API answered {response.status_code}."
                return retry_delay(config.retry, attempt.number, response)
            with _http_errors(response.request.url, config.timeout_s):
                body = read_body(response, max_bytes=config.max_response_bytes, deadline=deadline)
        finally:
            response.close()
        exchange.response, exchange.body = response, body
        return None

    def _follow_redirects(
        self, exchange: _Exchange, attempt: AttemptRecord, request: httpx.Request, deadline: float
    ) -> httpx.Response:
        """Send ``request`` and follow redirects, re-checking each hop; returns an open response."""
        config = exchange.config
        origin = request.url
        hops = 0
        while True:
            if time.monotonic() > deadline:
                raise RequestTimeoutError(f"The API did not answer within {config.timeout_s:g} s.")
            self.network_policy.check_url(request.url)
            # Credentials are applied only on the endpoint's own origin.
            auth = exchange.auth if same_origin(request.url, origin) else NoAuth()
            response = self._send_hop(exchange, attempt, request, auth)
            location = redirect_location(response) if config.follow_redirects else None
            if location is None:
                return response
            response.close()
            if hops >= config.max_redirects:
                raise TooManyRedirectsError(config.max_redirects)
            hops += 1
            request = next_request(
                self.client, response, location, origin=origin, credentials=exchange.credentials()
            )

    def _send_hop(
        self, exchange: _Exchange, attempt: AttemptRecord, request: httpx.Request, auth: httpx.Auth
    ) -> httpx.Response:
        hop = HopRecord(method=request.method, url="")
        attempt.hops.append(hop)
        response: httpx.Response | None = None
        started = time.perf_counter()
        counted = _CountedAuth(auth)
        try:
            with _http_errors(request.url, exchange.config.timeout_s):
                response = self.client.send(request, auth=counted, stream=True)
        except ConnectorError as exc:
            hop.error = exc.message
            raise
        finally:
            hop.requests = max(counted.sent, 1)
            hop.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
            # Recorded after sending: the auth flow may have changed or replaced the request.
            sent = response.request if response is not None else request
            exchange.hop_urls.append(sent.url)
            if len(attempt.hops) == 1:
                exchange.sent_request = sent
        hop.status = response.status_code
        return response

    def _wait_for_slot(self, limit: RateLimitConfig, key: str) -> None:
        give_up = time.monotonic() + limit.max_wait_s
        while (
            wait := self.rate_limit_store.acquire(key, limit=limit.requests, period_ms=limit.per_ms)
        ) > 0:
            if time.monotonic() + wait > give_up:
                raise RateLimitTimeoutError(limit.max_wait_s)
            self._sleep(wait)

    def _result(
        self, exchange: _Exchange, error: ConnectorError | None, *, elapsed_ms: float
    ) -> Result:
        config, response = exchange.config, exchange.response
        derived = exchange.rendered.secret_derived_values if exchange.rendered else frozenset()
        masker = Masker(
            exchange.context.secret_values() | _auth_secret_values(exchange.auth) | derived
        )
        status = response.status_code if response is not None else None
        text: str | None = None
        body: Any = None
        if response is not None and exchange.body is not None:
            encoding = charset(response)
            body = parse_body(exchange.body, encoding)
            text = exchange.body.decode(encoding, errors="replace")
        if error is None and status is not None and not 200 <= status < 300:
            error = UpstreamStatusError(status, response.reason_phrase if response else "")
        if error is not None:
            error.mask(masker)
        ok = error is None
        # An API that echoes its request (or returns the key it was given) must not put a
        # credential into the value a cell stores and shows: every secret that took part in
        # the request is masked out of the answer before anyone sees it.
        body = masker.value(body)
        return Result(
            ok=ok,
            status=status,
            headers=masker.value(dict(response.headers)) if response is not None else {},
            body=body,
            value=filter_response(body, config.parsed_field_paths) if ok else None,
            error=error,
            attempts=len(exchange.attempts),
            elapsed_ms=elapsed_ms,
            debug=_debug_record(exchange, masker, error, text),
            requests=sum(hop.requests for attempt in exchange.attempts for hop in attempt.hops),
        )


class _CountedAuth(httpx.Auth):
    """Counts the requests ``auth``'s flow sends: a refused token refreshed and the request
    sent again is two requests to the API, and the cell says so."""

    def __init__(self, auth: httpx.Auth) -> None:
        self.auth = auth
        self.sent = 0

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        flow = self.auth.sync_auth_flow(request)
        request = next(flow)
        while True:
            self.sent += 1
            response = yield request
            try:
                request = flow.send(response)
            except StopIteration:
                return


def _encode_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    # httpx encodes str header values as ASCII and raises on anything else; cell values are often
    # not ASCII, and UTF-8 bytes are what APIs that accept them expect. Names are RFC 9110
    # tokens (config.valid_header_name), so ASCII; httpx stores both as these same bytes.
    return [(name.encode("ascii"), value.encode()) for name, value in headers]


def _default_rate_limit_key(url: httpx.URL, limit: RateLimitConfig) -> str:
    return f"{url.host}:{url.port or ''}:{limit.requests}/{limit.per_ms}ms"


def _debug_record(
    exchange: _Exchange, masker: Masker, error: ConnectorError | None, response_text: str | None
) -> DebugRecord:
    config, rendered, auth = exchange.config, exchange.rendered, exchange.auth
    secret_params = _auth_query_params(auth) | (
        rendered.secret_query_params if rendered else frozenset()
    )
    if rendered is None:
        # Rendering failed: show the templates themselves.
        record = DebugRecord(
            method=config.method.value,
            url=masker(config.endpoint),
            request_headers={name: masker(value) for name, value in config.headers.items()},
        )
        record.request_body, record.request_body_truncated = excerpt(
            None if config.body is None else str(config.body), masker=masker
        )
    else:
        sent = exchange.sent_request
        record = DebugRecord(
            method=rendered.method,
            url=display_url(
                sent.url if sent else rendered.url, masker=masker, secret_params=secret_params
            ),
            request_headers=display_headers(
                sent.headers if sent else httpx.Headers(_encode_headers(rendered.headers)),
                masker=masker,
                secret_templates=rendered.secret_header_templates,
                credential_headers=_auth_headers(auth),
            ),
        )
        record.request_body, record.request_body_truncated = excerpt(
            rendered.display_body, masker=masker
        )
    hop_urls = iter(exchange.hop_urls)
    for attempt in exchange.attempts:
        attempt.error = masker(attempt.error) if attempt.error else None
        for hop in attempt.hops:
            hop.url = display_url(next(hop_urls), masker=masker, secret_params=secret_params)
            hop.error = masker(hop.error) if hop.error else None
    record.attempts = exchange.attempts
    response = exchange.response
    if response is not None:
        record.response_status = response.status_code
        record.response_headers = display_headers(response.headers, masker=masker)
        record.response_body, record.response_body_truncated = excerpt(response_text, masker=masker)
    if error is not None:
        record.error_code, record.error = error.code, error.message
    return record


_default_engine: Engine | None = None


def send(
    config: RequestConfig,
    *,
    context: TemplateContext | None = None,
    auth: httpx.Auth | None = None,
    engine: Engine | None = None,
    rate_limit_key: str | None = None,
) -> Result:
    """Send one request with ``engine``, or with a process-wide default engine that reaches the
    public internet only and keeps rate limits in memory."""
    global _default_engine
    if engine is None:
        if _default_engine is None:
            _default_engine = Engine()
        engine = _default_engine
    return engine.send(config, context=context, auth=auth, rate_limit_key=rate_limit_key)
