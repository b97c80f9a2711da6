"""Reading an answer without trusting its size, and parsing it.

The body is read raw and decoded here rather than by httpx: httpx's decoders inflate a whole
network chunk at once, and 64 KB of gzip can hold 64 MB of zeros. Each ``decompress`` call below
is told how many bytes may still come out, so memory stays bounded by ``max_response_bytes``
whatever the compression ratio.
"""

from __future__ import annotations

import codecs
import json
import time
import zlib
from email.message import Message
from typing import Any

import httpx

from connectors.errors import NetworkError, RequestTimeoutError, ResponseTooLargeError


class _Inflater:
    """zlib/gzip/deflate decoding with a bound on the output of every call."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._raw_fallback = not self._gzip
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)

    def decode(self, data: bytes, room: int) -> bytes:
        """Inflate ``data``; never returns more than ``room + 1`` bytes (the caller's signal)."""
        output = bytearray()
        while data and len(output) <= room:
            try:
                piece = self._inflater.decompress(data, room + 1 - len(output))
            except zlib.error:
                if not self._raw_fallback:
                    raise
                # Some servers send raw deflate under "deflate" (the RFC says zlib-wrapped).
                self._raw_fallback = False
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            output += piece
            data = self._inflater.unconsumed_tail
            if self._inflater.eof and self._inflater.unused_data and self._gzip:
                # A gzip body may hold several members one after the other (RFC 1952 2.2).
                data = self._inflater.unused_data
                self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        return bytes(output)


def _content_encodings(response: httpx.Response) -> list[str]:
    header = response.headers.get("content-encoding", "")
    return [
        e.strip().lower() for e in header.split(",") if e.strip().lower() not in ("", "identity")
    ]


def read_body(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    """Read and decode a streamed response; stop at ``max_bytes`` or at ``deadline``.

    Raises ResponseTooLargeError, RequestTimeoutError or NetworkError.
    """
    encodings = _content_encodings(response)
    for encoding in encodings:
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise NetworkError(f"The API answered with an unsupported encoding ({encoding}).")
    declared = response.headers.get("content-length", "")
    if not encodings and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLargeError(max_bytes)

    # Encodings are listed in the order they were applied; undo them in reverse.
    inflaters = [_Inflater(encoding) for encoding in reversed(encodings)]
    body = bytearray()
    try:
        for chunk in response.iter_raw():
            data = chunk
            for inflater in inflaters:
                data = inflater.decode(data, max_bytes - len(body))
            if len(body) + len(data) > max_bytes:
                raise ResponseTooLargeError(max_bytes)
            body += data
            if time.monotonic() > deadline:
                raise RequestTimeoutError("The API's answer did not finish arriving in time.")
    except zlib.error:
        raise NetworkError("The API sent a corrupt compressed answer.") from None
    return bytes(body)


def charset(response: httpx.Response) -> str:
    """The charset named by Content-Type, or utf-8."""
    message = Message()
    message["content-type"] = response.headers.get("content-type", "")
    name = message.get_param("charset")
    if isinstance(name, str):
        try:
            return codecs.lookup(name).name if name else "utf-8"
        except LookupError:
            return "utf-8"
    return "utf-8"


def parse_body(data: bytes, encoding: str = "utf-8") -> Any:
    """Parse an answer: JSON when it is JSON, else its text; an empty answer is None."""
    if not data:
        return None
    text = data.decode(encoding, errors="replace").lstrip("\ufeff")
    try:
        return json.loads(text)
    except ValueError:
        return text
