"""The pooled HTTP client, with the SSRF guard at the socket.

httpx resolves names inside ``socket.create_connection``, after any check we could make on the
URL, so a check-then-connect guard can be raced by DNS rebinding. Here the connection pool's
network backend does the resolving itself: it checks every address against the network policy
and connects to the checked IP. TLS still verifies and sends SNI for the URL's host name,
because httpcore passes the origin's host name to ``start_tls`` and the ``Host`` header comes
from the URL; only the TCP connect uses the pinned IP.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Iterable
from http.cookiejar import Cookie, CookieJar, CookiePolicy, DefaultCookiePolicy
from urllib.request import Request

import httpcore
import httpx

from connectors.errors import BlockedAddressError
from connectors.network import NetworkPolicy

USER_AGENT = "Enrich-connectors/0.1 (+https://github.com/enrich)"
#: The encodings ``response.py`` decodes (with a bound on decoded size).
ACCEPT_ENCODING = "gzip, deflate"
DEFAULT_LIMITS = httpx.Limits(
    max_connections=256, max_keepalive_connections=64, keepalive_expiry=30.0
)

# As httpcore's backends declare it (httpcore._backends.base.SOCKET_OPTION).
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class GuardedNetworkBackend(httpcore.SyncBackend):
    """Resolves and checks host names itself, then connects to the checked address."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to the first reachable checked address of ``host``."""
        options = list(socket_options or [])
        failure: Exception | None = None
        for address in self._policy.resolve(host, port):
            try:
                return super().connect_tcp(
                    address.compressed, port, timeout, local_address, options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve() returns at least one address or raises
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        """Unix sockets are local by definition: never allowed."""
        raise BlockedAddressError("Unix sockets cannot be requested.")


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool uses ``GuardedNetworkBackend``."""

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(verify=verify, trust_env=False, limits=limits)
        # httpx offers no argument for the network backend, so the pool it built (still without
        # connections) is replaced by an identical one that uses the guarded backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(policy),
        )


class _RefuseAllCookies(DefaultCookiePolicy):
    # The client is shared by every workspace of the process: a cookie one API sets must never
    # ride along on another workspace's request.
    def set_ok(self, cookie: Cookie, request: Request) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: Request) -> bool:
        return False


def _cookie_jar() -> CookieJar:
    policy: CookiePolicy = _RefuseAllCookies()
    return CookieJar(policy=policy)


def build_client(
    policy: NetworkPolicy,
    *,
    verify: ssl.SSLContext | bool = True,
    limits: httpx.Limits = DEFAULT_LIMITS,
) -> httpx.Client:
    """A new guarded client: no proxies from the environment, no redirects, no cookie jar."""
    return httpx.Client(
        transport=GuardedTransport(policy, verify=verify, limits=limits),
        trust_env=False,
        follow_redirects=False,
        cookies=_cookie_jar(),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
    )


_clients: dict[tuple[int, NetworkPolicy, int], httpx.Client] = {}
_clients_lock = threading.Lock()


def shared_client(policy: NetworkPolicy, *, verify: ssl.SSLContext | bool = True) -> httpx.Client:
    """The process's pooled client for ``policy`` (created on first use, thread-safe).

    Keyed by process id too: a pool inherited through ``fork`` (Celery's prefork workers) would
    share sockets with the parent.
    """
    verify_key = id(verify) if isinstance(verify, ssl.SSLContext) else int(verify)
    key = (os.getpid(), policy, verify_key)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = build_client(policy, verify=verify)
    return client
