"""The Content-Security-Policy header: Enrich's pages load scripts and styles from itself only.

No page needs an inline script, an inline style or ``eval``: htmx's indicator styles are in
``static/css/app.css`` (``includeIndicatorStyles`` is off) and widths computed by the server
arrive as ``data-width``, set by ``static/js/app.js``. So a value that slips HTML into a page
still cannot run a script or load anything from elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def policy_header(policy: Mapping[str, Sequence[str]]) -> str:
    """``{"script-src": ["'self'"]}`` → ``"script-src 'self'"``; a directive without sources
    (``upgrade-insecure-requests``) is written alone."""
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    """Adds ``ENRICH_CONTENT_SECURITY_POLICY`` to every response that does not set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = policy_header(settings.ENRICH_CONTENT_SECURITY_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header and HEADER not in response:
            response[HEADER] = self.header
        return response
