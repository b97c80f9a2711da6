"""The debug record of a request: what was sent and received, with every secret masked.

Masking works two ways. Structurally: a header, query parameter or body string whose template
looks up a secret is shown as its template (``Bearer {{ get_secret('token') }}``), and
credential headers added by auth are shown as ``••••``. By value: every secret value looked up
while rendering and every value the auth type declares secret is replaced by ``••••`` wherever
it appears (raw, URL-encoded or JSON-escaped), including in the answer and in error messages.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import httpx

MASK = "••••"
#: Characters of a request or response body kept in a debug record.
BODY_EXCERPT_CHARS = 8_192
#: Header names that always carry credentials, whoever set them.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
    }
)


#: Secrets shorter than this are masked only where they stand alone (not inside a word), so a
#: one-letter secret does not turn every such letter of a message into ``••••``.
SHORT_SECRET_LENGTH = 8


class Masker:
    """Replaces known secret values, in their common encodings, with ``••••``.

    Each secret is looked for in every form ``_encodings`` lists (URL-encoded, JSON-escaped,
    base64…); a credential of the form ``<scheme> <token>`` (``Basic dXNl…``, ``Bearer eyJ…``)
    also by its token alone, since APIs echo either. A secret shorter than
    ``SHORT_SECRET_LENGTH`` is masked only where it stands alone.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms = {secret}
            scheme, space, token = secret.partition(" ")
            if space and scheme.isalpha() and token and " " not in token:
                forms.add(token)
            for form in forms:
                variants.update(_encodings(form))
        long = sorted((v for v in variants if len(v) >= SHORT_SECRET_LENGTH), key=len, reverse=True)
        short = sorted((v for v in variants if len(v) < SHORT_SECRET_LENGTH), key=len, reverse=True)
        # Longest first, so a secret containing another is masked whole.
        alternatives = [re.escape(v) for v in long] + [
            rf"(?<!\w){re.escape(v)}(?!\w)" for v in short
        ]
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None
        self._exact = frozenset(variants)

    def __call__(self, text: str) -> str:
        """``text`` with every known secret replaced."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def value(self, data: Any) -> Any:
        """A JSON value with every secret masked in its strings and object keys (and a number
        that is a secret written as digits replaced by ``••••``)."""
        if self._pattern is None:
            return data
        if isinstance(data, str):
            return self(data)
        if isinstance(data, dict):
            return {self(str(key)): self.value(item) for key, item in data.items()}
        if isinstance(data, list):
            return [self.value(item) for item in data]
        if isinstance(data, int | float) and not isinstance(data, bool):
            return MASK if str(data) in self._exact else data
        return data


def _encodings(secret: str) -> set[str]:
    """The forms a secret travels in, and comes back in from an API that echoes it.

    One step: raw, trimmed (``|trim``), URL-encoded the three ways it is done (``quote`` as
    the endpoint encodes a path or query part, ``quote_plus`` as a form or query field,
    ``quote`` keeping ``/`` as Jinja's ``|urlencode``), JSON-escaped (ASCII or not, and with
    ``< > & '`` escaped as Go's and JavaScript's encoders do) and base64 (standard or URL-safe,
    padded or not). Two steps where an echo adds one of its own: the JSON escape of a JSON
    escape (a JSON body echoed as a JSON string), the URL encodings of a JSON escape
    (``|tojson|urlencode``) and the base64 of ``|tojson``. Longer chains made in a template
    are recorded as they are rendered (``TemplateContext.secret_values``), so each of their
    results is a secret of its own here.
    """
    plain = {secret, secret.strip()} - {""}
    found: set[str] = set()
    for text in plain:
        escaped = _json_escapes(text)
        found |= {text, *_url_encodings(text), *escaped, *_base64_encodings(text)}
        for once in escaped:
            found |= _json_escapes(once) | _url_encodings(once)
        for quoted in (f'"{once}"' for once in escaped):
            found |= _base64_encodings(quoted)
    return found


def _url_encodings(text: str) -> set[str]:
    return {quote(text, safe=""), quote(text, safe="/"), quote_plus(text)}


def _json_escapes(text: str) -> set[str]:
    ascii_form = json.dumps(text)[1:-1]
    html_safe = (
        ascii_form.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )
    return {ascii_form, json.dumps(text, ensure_ascii=False)[1:-1], html_safe}


def _base64_encodings(text: str) -> set[str]:
    raw = text.encode()
    padded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return padded | {form.rstrip("=") for form in padded}


def _mask_credential(value: str) -> str:
    scheme, _, rest = value.partition(" ")
    # Keep an auth scheme word ("Bearer", "Basic") visible: it helps debugging and is not secret.
    return f"{scheme} {MASK}" if rest and scheme.isalpha() else MASK


def display_headers(
    headers: httpx.Headers,
    *,
    masker: Masker,
    secret_templates: dict[str, str] | None = None,
    credential_headers: Collection[str] = (),
) -> dict[str, str]:
    """Headers as shown in a debug record."""
    shown: dict[str, str] = {}
    templates = secret_templates or {}
    credential = {name.lower() for name in credential_headers}
    for raw_name, raw_value in headers.raw:
        # Raw pairs keep the header names' case as sent.
        name, value = raw_name.decode("latin-1"), raw_value.decode("utf-8", errors="replace")
        lowered = name.lower()
        if lowered in templates:
            text = templates[lowered]
        elif lowered in SENSITIVE_HEADERS or lowered in credential:
            text = _mask_credential(value)
        else:
            text = masker(value)
        shown[name] = f"{shown[name]}, {text}" if name in shown else text
    return shown


def display_url(url: httpx.URL, *, masker: Masker, secret_params: Collection[str] = ()) -> str:
    """A URL as shown in a debug record: secret query values and passwords masked."""
    # Built from the URL's text: httpx's copy_with() re-parses the whole URL each time.
    base = str(url).partition("#")[0].partition("?")[0]
    if url.password:
        base = base.replace(f"{url.userinfo.decode('ascii')}@", f"{url.username}:{MASK}@", 1)
    query = url.query.decode("ascii", errors="replace")
    if query:
        parts = []
        for part in query.split("&"):
            name, sep, _ = part.partition("=")
            parts.append(f"{name}={MASK}" if unquote_plus(name) in secret_params and sep else part)
        base = f"{base}?{'&'.join(parts)}"
    return masker(base)


def excerpt(text: str | None, *, masker: Masker) -> tuple[str | None, bool]:
    """The first ``BODY_EXCERPT_CHARS`` of a body, masked, and whether it was cut."""
    if text is None:
        return None, False
    cut = len(text) > BODY_EXCERPT_CHARS
    return masker(text[:BODY_EXCERPT_CHARS]), cut


@dataclass
class HopRecord:
    """One HTTP exchange: the first request or one redirect."""

    method: str
    url: str
    status: int | None = None
    elapsed_ms: float = 0.0
    error: str | None = None
    #: Requests this hop sent: 2 when the auth layer sent it again with a fresh token.
    requests: int = 1


@dataclass
class AttemptRecord:
    """One attempt (the first try or a retry) and the redirect hops it followed."""

    number: int
    hops: list[HopRecord] = field(default_factory=list)
    error: str | None = None
    #: Seconds waited after this attempt before the next one.
    wait_s: float | None = None


@dataclass
class DebugRecord:
    """What was sent and received, for a "Test request" panel; secrets are masked."""

    method: str
    url: str
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    request_body_truncated: bool = False
    attempts: list[AttemptRecord] = field(default_factory=list)
    response_status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    response_body_truncated: bool = False
    error_code: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return asdict(self)
