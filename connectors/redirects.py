"""Following redirects without carrying credentials to another origin.

The engine follows redirects itself (the client never does) so that each hop is checked by the
network policy again and so that everything that identifies the caller is removed when a hop
leaves the original origin: httpx on its own only drops ``Authorization``, which leaves an auth
type's ``X-API-Key``, cookies, a key in the query string and a 307/308 body to travel along.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import httpx

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

#: Headers that identify the caller, dropped on every cross-origin hop whatever the auth type.
ALWAYS_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_BODY_HEADERS = ("content-type", "content-length", "transfer-encoding", "content-encoding")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Credentials:
    """What must not leave the original origin."""

    headers: frozenset[str] = frozenset()
    query_params: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()


def _port(url: httpx.URL) -> int | None:
    return url.port or _DEFAULT_PORTS.get(url.scheme)


def same_origin(url: httpx.URL, origin: httpx.URL) -> bool:
    """Whether ``url`` is on ``origin``'s origin; an http -> https upgrade of the same host on
    default ports counts as the same origin (as in httpx)."""
    if url.host != origin.host:
        return False
    if url.scheme == origin.scheme and _port(url) == _port(origin):
        return True
    return (
        origin.scheme == "http"
        and url.scheme == "https"
        and _port(origin) == 80
        and _port(url) == 443
    )


def redirect_location(response: httpx.Response) -> httpx.URL | None:
    """Where a redirect answer points (resolved against the request URL), or None."""
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    if not location:
        return None
    url = response.request.url.join(location)
    if not url.fragment and response.request.url.fragment:
        url = url.copy_with(fragment=response.request.url.fragment)
    return url


def _strip_query(url: httpx.URL, names: Collection[str], values: Collection[str]) -> httpx.URL:
    if not url.query:
        return url
    kept = [
        (name, value)
        for name, value in url.params.multi_items()
        if name not in names and not any(secret and secret in value for secret in values)
    ]
    if len(kept) == len(url.params.multi_items()):
        return url
    return url.copy_with(params=kept) if kept else url.copy_with(query=None)


def next_request(
    client: httpx.Client,
    response: httpx.Response,
    location: httpx.URL,
    *,
    origin: httpx.URL,
    credentials: Credentials,
) -> httpx.Request:
    """Build the request for the next hop of a redirect (RFC 9110 section 15.4)."""
    previous = response.request
    method = previous.method
    keep_body = response.status_code in (307, 308)
    if response.status_code == 303 and method != "HEAD":
        method = "GET"
    elif response.status_code in (301, 302) and method == "POST":
        # What every browser does, and what APIs that answer a POST with 302 expect.
        method = "GET"

    headers = httpx.Headers(previous.headers)
    del headers["host"]
    url = location
    cross_origin = not same_origin(location, origin)
    if cross_origin:
        for name in ALWAYS_CREDENTIAL_HEADERS | credentials.headers:
            if name in headers:
                del headers[name]
        url = _strip_query(url, credentials.query_params, credentials.values)
        # A 307/308 body may carry credentials or personal data meant for the first origin.
        keep_body = False
    content = previous.content if keep_body and method == previous.method else None
    if content is None:
        for name in _BODY_HEADERS:
            if name in headers:
                del headers[name]
    return client.build_request(
        method,
        url,
        headers=headers,
        content=content,
        extensions=dict(previous.extensions),
    )
