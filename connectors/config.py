"""The request configuration: one pydantic schema for the UI forms, the workers, the CLI and
the JSON API. Every field is documented in ``docs/config-reference.md``.

Templates are syntax-checked here, at save time, so a broken template is a validation error
that names its field rather than a failure on the first row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from connectors.errors import TemplateError
from connectors.templating import check_template, template_column_keys

DEFAULT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024
MAX_RESPONSE_BYTES_LIMIT = 100 * 1024 * 1024

# RFC 9110 section 5.6.2: a header name is a "token".
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers the transport owns: letting a template set them would desynchronise the framing or
# the routing of the request.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_PATH_SEGMENT = re.compile(r"^[^.\s\[\]]+$")
_ENDPOINT_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def valid_header_name(name: str) -> str:
    """``name`` if it can be a configured header name, else a ValueError saying why."""
    if not _HEADER_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid header name")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(f"the {name} header is set by the engine and cannot be configured")
    return name


def valid_header_value(value: str, *, name: str) -> str:
    """``value`` if it can be sent as (part of) a header value, else a ValueError saying why.

    httpx sends header values as ASCII and refuses line breaks; a credential that cannot be
    sent is refused when it is saved, not on the first request.
    """
    if not value.isascii() or any(not (char.isprintable() or char == "\t") for char in value):
        raise ValueError(f"{name} must be plain ASCII text on one line")
    return value


def without_nul(value: Any) -> Any:
    """``value`` if no text in it (keys included, however nested) holds a NUL character, else
    a ValueError: NUL never means anything in a setting, and PostgreSQL cannot store it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("the text holds a NUL character (\\x00); remove it")
    elif isinstance(value, dict):
        for key, item in value.items():
            without_nul(key)
            without_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            without_nul(item)
    return value


def check_json_template(value: Any, root: str) -> None:
    """Syntax-check every template in a JSON structure; a ValueError names the one at fault."""
    for path, source in _template_leaves(value, root):
        try:
            check_template(source)
        except TemplateError as exc:
            raise ValueError(f"{path}: {exc.message}") from None


def _valid_template(source: str) -> str:
    try:
        check_template(source)
    except TemplateError as exc:
        raise ValueError(exc.message) from None
    return source


Template = Annotated[str, AfterValidator(_valid_template)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Method(StrEnum):
    """The HTTP methods a request can use."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class RetryConfig(_Model):
    """When and how a failed attempt is tried again."""

    attempts: int = Field(3, ge=1, le=10, description="Total tries, the first included.")
    backoff_s: float = Field(
        0.5, ge=0, le=60, description="Base delay; attempt n waits up to backoff_s * 2**(n-1)."
    )
    max_backoff_s: float = Field(30, ge=0, le=600, description="Ceiling of one backoff delay.")
    jitter: bool = Field(True, description="Wait a random time between 0 and the delay.")
    statuses: frozenset[int] = Field(
        DEFAULT_RETRY_STATUSES, description="Answer statuses that are tried again."
    )
    on_connection_errors: bool = Field(True, description="Retry connection failures and timeouts.")
    respect_retry_after: bool = Field(True, description="Wait as long as Retry-After asks.")
    max_retry_after_s: float = Field(
        60, ge=0, le=3600, description="Longest Retry-After wait honoured; longer ones are cut."
    )

    @field_validator("statuses")
    @classmethod
    def _statuses_are_http(cls, statuses: frozenset[int]) -> frozenset[int]:
        wrong = sorted(s for s in statuses if not 100 <= s <= 599)
        if wrong:
            raise ValueError(f"{wrong[0]} is not an HTTP status (100-599)")
        return statuses


class RateLimitConfig(_Model):
    """At most ``requests`` per ``per_ms`` milliseconds, shared by every worker."""

    requests: int = Field(ge=1, le=100_000, description="Requests allowed per window.")
    per_ms: int = Field(ge=1, le=86_400_000, description="Window length in milliseconds.")
    max_wait_s: float = Field(
        60, ge=0, le=3600, description="Longest wait for a free slot before failing."
    )


class RequestConfig(_Model):
    """One HTTP request, templated over a row."""

    method: Method = Method.GET
    endpoint: Template = Field(min_length=1, description="URL template, http(s) only.")
    query: dict[str, Template] = Field(default_factory=dict)
    headers: dict[str, Template] = Field(default_factory=dict)
    body: JsonValue = Field(None, description="A JSON object or array whose strings are templates.")
    remove_nulls: bool = Field(False, description="Drop null values from the body, recursively.")
    field_paths: str = Field("", description="Comma-separated dot paths to keep from the answer.")
    timeout_s: float = Field(30, gt=0, le=600)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    rate_limit: RateLimitConfig | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(5, ge=0, le=20)
    max_response_bytes: int = Field(DEFAULT_MAX_RESPONSE_BYTES, ge=1, le=MAX_RESPONSE_BYTES_LIMIT)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return without_nul(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http(cls, endpoint: str) -> str:
        endpoint = endpoint.strip()
        if not endpoint.startswith("{"):
            scheme = _ENDPOINT_SCHEME.match(endpoint)
            if scheme is None:
                raise ValueError("the endpoint must start with http:// or https://")
            if scheme.group(1).lower() not in ("http", "https"):
                raise ValueError(f"{scheme.group(1)}:// is not supported; use http:// or https://")
        return endpoint

    @field_validator("query")
    @classmethod
    def _query_names(cls, query: dict[str, str]) -> dict[str, str]:
        if any(not name.strip() for name in query):
            raise ValueError("a query parameter needs a name")
        return query

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        seen: set[str] = set()
        for name in headers:
            lowered = valid_header_name(name).lower()
            if lowered in seen:
                raise ValueError(f"the {name} header is configured twice")
            seen.add(lowered)
        return headers

    @field_validator("body")
    @classmethod
    def _body_is_template_json(cls, body: JsonValue) -> JsonValue:
        if body is None:
            return None
        if not isinstance(body, dict | list):
            raise ValueError("the body must be a JSON object or array")
        check_json_template(body, "body")
        return body

    @field_validator("field_paths")
    @classmethod
    def _field_paths_parse(cls, field_paths: str) -> str:
        parse_field_paths(field_paths)
        return field_paths

    @model_validator(mode="after")
    def _no_body_on_get(self) -> RequestConfig:
        if self.body is not None and self.method == Method.GET:
            raise ValueError("a GET request cannot have a body; use POST, PUT or PATCH")
        return self

    @cached_property
    def parsed_field_paths(self) -> tuple[tuple[str, ...], ...]:
        """``field_paths`` split into paths of segments."""
        return parse_field_paths(self.field_paths)

    def column_keys(self) -> set[str]:
        """Every column key the request's templates read (for dependencies and missing inputs)."""
        keys = template_column_keys(self.endpoint)
        for source in (*self.query.values(), *self.headers.values(), *self.query.keys()):
            keys |= template_column_keys(source)
        for _, source in _template_leaves(self.body, "body"):
            keys |= template_column_keys(source)
        return keys


def _template_leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield (path, source) for every string of a JSON body, object keys included."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", key
            yield from _template_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _template_leaves(item, f"{path}[{index}]")


def parse_field_paths(field_paths: str) -> tuple[tuple[str, ...], ...]:
    """Split ``"data.person.name, items.0.id"`` into ``(("data", "person", "name"), ...)``.

    ``items[0].id`` is read as ``items.0.id``. Raise ValueError for an empty segment.
    """
    paths: list[tuple[str, ...]] = []
    for raw in field_paths.split(","):
        text = raw.strip()
        if not text:
            continue
        text = re.sub(r"\[(-?\d+)\]", r".\1", text)
        segments = tuple(segment.strip() for segment in text.split("."))
        if any(not _PATH_SEGMENT.match(segment) for segment in segments):
            raise ValueError(f"{raw.strip()!r} is not a valid field path (use a.b.0.c)")
        paths.append(segments)
    if field_paths.strip() and not paths:
        raise ValueError("field_paths has no path")
    return tuple(paths)


def describe_validation_error(exc: ValidationError, *, prefix: str = "") -> str:
    """One line per problem, each starting with the dotted field path (``request.retry.attempts``).

    Input values are left out: they may be secrets.
    """
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{location}: {message}" if location else message)
    return "; ".join(lines)
