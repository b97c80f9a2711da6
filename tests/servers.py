"""Real HTTP servers on the loopback interface, for tests and benchmarks.

A ``LocalServer`` is a threaded ``http.server`` that routes paths to small handler functions and
records every request it receives. Handlers are built by the factories below (echo, JSON, fail N
times, sleep, redirect, huge body, gzip bomb, ...) or written inline: a handler takes the
``RecordedRequest`` and returns a ``Reply``. Token endpoints are just more handlers::

    with LocalServer() as server:
        server.route("/token", lambda request: Reply.json({"access_token": "t"}))
        server.route("/flaky", fail_times(2, status=503, then=json_reply({"ok": True})))
        ...
        assert server.count("/token") == 1

Every server stops itself: on ``stop()``/context exit, and at the latest after
``max_lifetime_s`` (a watchdog), so a failing test cannot leave one running. Sleeping handlers
wake up when the server stops.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    """A request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received_at: float
    server_name: str | None = None

    def header(self, name: str) -> str | None:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Reply:
    """What a handler answers. ``body`` may be bytes or an iterable of byte chunks (streamed)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    #: Content-Length to announce for a streamed body (else the body is sent chunked).
    length: int | None = None
    delay_s: float = 0.0

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        """A JSON answer."""
        return cls(
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
            body=json.dumps(data).encode(),
        )

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Reply:
        """A text answer."""
        return cls(status=status, headers={"Content-Type": content_type}, body=text.encode())


Handler = Callable[[RecordedRequest], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: LocalServer, address: tuple[str, int], family: int) -> None:
        self.address_family = family
        self.owner = owner
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that drop a keep-alive connection (or stop reading a huge body) are normal here.
        pass

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the connection's own thread, not in the accept loop.
        if self.owner.tls is not None:
            try:
                request = self.owner.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without this, each answer waits 40 ms for the
    # client's delayed ACK (Nagle's algorithm).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server_name = None
        if isinstance(self.connection, ssl.SSLSocket):
            server_name = owner.sni_by_socket.get(id(self.connection._sslobj))  # type: ignore[attr-defined]
        recorded = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
            server_name=server_name,
        )
        owner._record(recorded)
        handler = owner.handler_for(split.path)
        reply = handler(recorded) if handler else Reply.json({"error": "no route"}, status=404)
        if reply.delay_s and owner.stopping.wait(reply.delay_s):
            return
        try:
            self._write(reply)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if isinstance(reply.body, bytes | bytearray):
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            return
        chunked = reply.length is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(reply.length))
        self.end_headers()
        for chunk in reply.body:
            if self.server.owner.stopping.is_set():
                self.close_connection = True
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class LocalServer:
    """A threaded HTTP(S) server on 127.0.0.1 (or ``::1``) with routes and a request log."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        tls: ssl.SSLContext | None = None,
        max_lifetime_s: float = 300.0,
    ) -> None:
        self.host = host
        self.tls = tls
        self.max_lifetime_s = max_lifetime_s
        self.stopping = threading.Event()
        self.sni_by_socket: dict[int, str | None] = {}
        self.server_names: list[str | None] = []
        self._routes: dict[str, Handler] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None
        if tls is not None:
            tls.sni_callback = self._remember_sni

    def _remember_sni(self, ssl_object: ssl.SSLObject, name: str | None, _: Any) -> None:
        self.sni_by_socket[id(ssl_object)] = name
        self.server_names.append(name)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalServer:
        """Bind a free port and serve in a background thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = _Server(self, (self.host, 0), family)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._watchdog = threading.Timer(self.max_lifetime_s, self.stop)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close the socket (idempotent)."""
        self.stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._watchdog is not None:
            self._watchdog.cancel()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        """``scheme://host:port``."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """An absolute URL on this server."""
        return self.origin + path

    # -- routes and the request log --------------------------------------------------------
    def route(self, path: str, handler: Handler) -> Handler:
        """Answer requests for ``path`` (exact match) with ``handler``."""
        self._routes[path] = handler
        return handler

    def handler_for(self, path: str) -> Handler | None:
        """The handler of ``path``, if any."""
        return self._routes.get(path)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received for ``path``."""
        return [r for r in self.requests if r.path == path]

    def count(self, path: str | None = None) -> int:
        """How many requests arrived (for ``path``, or in all)."""
        return len(self.requests if path is None else self.requests_to(path))


# -- handler factories ----------------------------------------------------------------------


def echo() -> Handler:
    """Answer with the request itself as JSON: method, path, query, headers, body."""

    def handle(request: RecordedRequest) -> Reply:
        text = request.body.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return Reply.json(
            {
                "method": request.method,
                "path": request.path,
                "query": {k: v[-1] for k, v in request.query.items()},
                "headers": request.headers,
                "body": text,
                "json": parsed,
            }
        )

    return handle


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    """Always answer ``data`` as JSON."""
    return lambda request: Reply.json(data, status=status, headers=headers)


def text_reply(text: str, status: int = 200, content_type: str = "text/plain") -> Handler:
    """Always answer ``text``."""
    return lambda request: Reply.text(text, status=status, content_type=content_type)


def sequence(*handlers: Handler) -> Handler:
    """The n-th request gets the n-th handler; the last handler answers every later request."""
    calls = iter(range(1_000_000))
    lock = threading.Lock()

    def handle(request: RecordedRequest) -> Reply:
        with lock:
            index = next(calls)
        return handlers[min(index, len(handlers) - 1)](request)

    return handle


def fail_times(
    times: int,
    *,
    status: int = 500,
    retry_after: str | None = None,
    then: Handler | None = None,
) -> Handler:
    """Fail the first ``times`` requests with ``status`` (and ``Retry-After``), then ``then``."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    failure = json_reply({"error": "try again"}, status=status, headers=headers)
    return sequence(*([failure] * times), then or json_reply({"ok": True}))


def sleep_then(seconds: float, then: Handler | None = None) -> Handler:
    """Wait ``seconds`` (less if the server stops) before answering with ``then``."""
    answer = then or json_reply({"ok": True})

    def handle(request: RecordedRequest) -> Reply:
        reply = answer(request)
        reply.delay_s = seconds
        return reply

    return handle


def redirect(to: str, status: int = 302, headers: dict[str, str] | None = None) -> Handler:
    """Redirect to ``to`` (an absolute URL, e.g. on another server = another origin, or a path)."""
    return lambda request: Reply(status=status, headers={"Location": to, **(headers or {})})


def huge_body(size: int, *, chunk_size: int = 64 * 1024, announce_length: bool = True) -> Handler:
    """Stream ``size`` bytes of ``x`` (with or without a Content-Length)."""

    def chunks() -> Iterator[bytes]:
        block = b"x" * chunk_size
        sent = 0
        while sent < size:
            piece = block[: min(chunk_size, size - sent)]
            sent += len(piece)
            yield piece

    return lambda request: Reply(
        headers={"Content-Type": "application/octet-stream"},
        body=chunks(),
        length=size if announce_length else None,
    )


@functools.lru_cache(maxsize=4)
def gzip_of_zeros(decompressed_size: int) -> bytes:
    """A gzip stream that inflates to ``decompressed_size`` zero bytes (about 1000:1)."""
    buffer = io.BytesIO()
    block = bytes(1024 * 1024)
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as compressed:
        remaining = decompressed_size
        while remaining > 0:
            piece = block[: min(len(block), remaining)]
            compressed.write(piece)
            remaining -= len(piece)
    return buffer.getvalue()


def gzip_bomb(decompressed_size: int) -> Handler:
    """Answer a small gzip body that inflates to ``decompressed_size`` bytes."""
    payload = gzip_of_zeros(decompressed_size)
    return lambda request: Reply(
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, body=payload
    )


def compressed_json(data: Any, encoding: str = "gzip") -> Handler:
    """Answer ``data`` as JSON compressed with ``gzip`` or ``deflate``."""
    raw = json.dumps(data).encode()
    payload = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    return lambda request: Reply(
        headers={"Content-Type": "application/json", "Content-Encoding": encoding}, body=payload
    )


def self_signed_tls(hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server TLS context with a fresh self-signed certificate for ``hostname``, and a client
    context that trusts exactly that certificate."""
    import datetime
    import tempfile
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client
