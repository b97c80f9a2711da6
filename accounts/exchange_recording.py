"""Writing down token-endpoint exchanges for the "Test connection" panel, masked.

Token requests happen inside the auth types, below the engine's debug record. For a test, the
auth object gets a guarded client of its own whose event hooks note each request and answer;
``records()`` turns them into the engine's ``DebugRecord`` shape with every credential masked.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import httpx

from connectors import MASK, AttemptRecord, DebugRecord, HopRecord, NetworkPolicy
from connectors.debug import Masker, display_headers, display_url, excerpt
from connectors.transport import build_client

#: Bytes of a token answer kept for display (token answers are small).
MAX_RECORDED_BYTES = 16 * 1024
#: Form and JSON fields of a token request that carry credentials, whatever their value.
CREDENTIAL_FIELDS = frozenset({"client_secret", "assertion", "password", "refresh_token"})


@dataclass
class _Exchange:
    request: httpx.Request
    started: float
    status: int | None = None
    reason: str = ""
    headers: httpx.Headers | None = None
    elapsed_ms: float = 0.0
    body: bytearray = field(default_factory=bytearray)


class _TeeStream(httpx.SyncByteStream):
    """Passes the answer through unchanged and keeps its first bytes."""

    def __init__(self, stream: Any, sink: bytearray) -> None:
        self._stream = stream
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            room = MAX_RECORDED_BYTES - len(self._sink)
            if room > 0:
                self._sink.extend(chunk[:room])
            yield chunk

    def close(self) -> None:
        self._stream.close()


class ExchangeRecorder:
    """A guarded client (same network policy as the engine) that records what it sends."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self._exchanges: list[_Exchange] = []
        self.client = build_client(policy)
        self.client.event_hooks = {"request": [self._on_request], "response": [self._on_response]}

    def _on_request(self, request: httpx.Request) -> None:
        self._exchanges.append(_Exchange(request=request, started=time.perf_counter()))

    def _on_response(self, response: httpx.Response) -> None:
        exchange = next(e for e in reversed(self._exchanges) if e.request is response.request)
        exchange.status = response.status_code
        exchange.reason = response.reason_phrase
        exchange.headers = response.headers
        exchange.elapsed_ms = round((time.perf_counter() - exchange.started) * 1000, 1)
        response.stream = _TeeStream(response.stream, exchange.body)

    def close(self) -> None:
        self.client.close()

    def records(
        self, *, secrets: Collection[str], credential_fields: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        """Every exchange as a masked ``DebugRecord`` dict."""
        masker = Masker(secrets)
        hidden = CREDENTIAL_FIELDS | set(credential_fields)
        return [_record(e, masker, hidden).to_dict() for e in self._exchanges]


def _record(exchange: _Exchange, masker: Masker, hidden: Collection[str]) -> DebugRecord:
    request = exchange.request
    url = display_url(request.url, masker=masker)
    record = DebugRecord(
        method=request.method,
        url=url,
        request_headers=display_headers(request.headers, masker=masker),
    )
    record.request_body, record.request_body_truncated = excerpt(
        _masked_body(request, hidden), masker=masker
    )
    hop = HopRecord(
        method=request.method, url=url, status=exchange.status, elapsed_ms=exchange.elapsed_ms
    )
    record.attempts = [AttemptRecord(number=1, hops=[hop])]
    if exchange.status is not None and exchange.headers is not None:
        record.response_status = exchange.status
        record.response_headers = display_headers(exchange.headers, masker=masker)
        text = _decoded(bytes(exchange.body), exchange.headers)
        record.response_body, record.response_body_truncated = excerpt(text, masker=masker)
    return record


def _masked_body(request: httpx.Request, hidden: Collection[str]) -> str | None:
    """The request body with credential fields shown as ``••••`` (structurally, by name)."""
    content = request.content
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/x-www-form-urlencoded"):
        pairs = parse_qsl(text, keep_blank_values=True)
        return "&".join(
            f"{quote_plus(name)}={MASK if name in hidden else quote_plus(value)}"
            for name, value in pairs
        )
    if kind.startswith("application/json"):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict):
            data = {k: MASK if k in hidden else v for k, v in data.items()}
        return json.dumps(data, ensure_ascii=False)
    return text


def _decoded(body: bytes, headers: httpx.Headers) -> str:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
            body = inflater.decompress(body, MAX_RECORDED_BYTES)
        except zlib.error:
            return "(compressed answer)"
    return body.decode("utf-8", errors="replace")
