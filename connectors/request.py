"""Turning a request config and a row into the HTTP request to send."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.config import RequestConfig
from connectors.errors import ConfigError, TemplateError
from connectors.network import is_valid_host_name
from connectors.sandbox import render_budget
from connectors.templating import (
    TemplateContext,
    compile_template,
    compile_url_template,
    render_json_with_display,
)

MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
MIN_DERIVED_MASK_LENGTH = 6
_FORBIDDEN_IN_HEADER = ("\r", "\n", "\x00")


@dataclass(frozen=True)
class RenderedRequest:
    """A request ready to send, plus what the debug record and the redirect guard need."""

    method: str
    url: httpx.URL
    headers: list[tuple[str, str]]
    content: bytes | None = None
    #: Lower-cased names of headers whose template looks up a secret, with that template.
    secret_header_templates: dict[str, str] = field(default_factory=dict)
    #: Query parameter names whose template looks up a secret.
    secret_query_params: frozenset[str] = frozenset()
    #: The body as JSON text with secret-derived strings shown as their templates.
    display_body: str | None = None
    #: Rendered values of templates that look up secrets (e.g. a base64 of one), and the forms
    #: a secret takes in the URL's host: masked too. (Each form a template makes of a secret,
    #: the endpoint's percent-encoding included, is in the context's ``secret_values()``.)
    secret_derived_values: frozenset[str] = frozenset()


def render_request(config: RequestConfig, context: TemplateContext) -> RenderedRequest:
    """Render endpoint, query, headers and body for one row; raise TemplateError or ConfigError.

    All templates of one request share one sandbox budget.
    """
    with render_budget():
        # Row values are encoded for where they sit in the URL (connectors.url_parts).
        endpoint_template = compile_url_template(config.endpoint)
        endpoint = endpoint_template.render_text(context).strip()
        params: list[tuple[str, str]] = []
        secret_params: set[str] = set()
        derived: set[str] = set()
        for key_source, value_source in config.query.items():
            key = compile_template(key_source).render_text(context)
            value_template = compile_template(value_source)
            value = value_template.render_text(context)
            params.append((key, value))
            if value_template.uses_secrets:
                secret_params.add(key)
                derived.add(value)
        # Parsed once with the query appended: every httpx URL copy re-parses the whole URL.
        url = _parse_url(_with_query(endpoint, params))
        if endpoint_template.uses_secrets:
            derived |= _host_forms(url, context.secret_values())

        headers: list[tuple[str, str]] = []
        secret_headers: dict[str, str] = {}
        for name, source in config.headers.items():
            template = compile_template(source)
            value = template.render_text(context).strip()
            if any(char in value for char in _FORBIDDEN_IN_HEADER):
                raise TemplateError(f"The {name} header renders to text with a line break.")
            headers.append((name, value))
            if template.uses_secrets:
                secret_headers[name.lower()] = source
                derived.add(value)

        content: bytes | None = None
        display_body: str | None = None
        if config.body is not None:
            body, display = render_json_with_display(
                config.body, context, remove_nulls=config.remove_nulls, secret_outputs=derived
            )
            content = _dump_json(body).encode()
            if len(content) > MAX_REQUEST_BODY_BYTES:
                raise TemplateError(
                    f"The body renders to more than {MAX_REQUEST_BODY_BYTES:,} bytes."
                )
            display_body = _dump_json(display)
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", "application/json"))

    return RenderedRequest(
        method=config.method.value,
        url=url,
        headers=headers,
        content=content,
        secret_header_templates=secret_headers,
        secret_query_params=frozenset(secret_params),
        display_body=display_body,
        # Short values ("1", "true") would mask unrelated text everywhere; secrets themselves
        # are masked whatever their length.
        secret_derived_values=frozenset(v for v in derived if len(v) >= MIN_DERIVED_MASK_LENGTH),
    )


def _with_query(endpoint: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return endpoint
    base, hash_mark, fragment = endpoint.partition("#")
    separator = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        separator = ""
    return f"{base}{separator}{urlencode(params)}{hash_mark}{fragment}"


def _host_forms(url: httpx.URL, secrets: frozenset[str]) -> set[str]:
    """Secrets as they stand in ``url``'s host, which is lower-cased (hosts are ASCII here:
    ``is_valid_host_name`` refuses any other), when that differs from the secret itself."""
    return {s.lower() for s in secrets if s.lower() != s and s.lower() in url.host}


def _dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _parse_url(endpoint: str) -> httpx.URL:
    try:
        url = httpx.URL(endpoint)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ConfigError("The endpoint does not render to a valid URL.") from None
    # The scheme is checked by the network policy, which refuses what it cannot vet.
    if url.host and not is_valid_host_name(url.host):
        raise ConfigError("The endpoint renders to a URL with an invalid host name.")
    return url
