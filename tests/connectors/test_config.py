"""The request config schema: defaults, validation messages that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors import (
    Method,
    RateLimitConfig,
    RequestConfig,
    RetryConfig,
    describe_validation_error,
    parse_field_paths,
)

ENDPOINT = "https://api.example.com/people"


def error_of(**fields: Any) -> str:
    fields.setdefault("endpoint", ENDPOINT)
    with pytest.raises(ValidationError) as caught:
        RequestConfig(**fields)
    return describe_validation_error(caught.value, prefix="request")


def test_defaults_match_the_documented_ones() -> None:
    config = RequestConfig(endpoint=ENDPOINT)
    assert config.method is Method.GET
    assert config.query == {} and config.headers == {} and config.body is None
    assert config.remove_nulls is False
    assert config.field_paths == ""
    assert config.timeout_s == 30
    assert config.retry == RetryConfig()
    assert config.retry.attempts == 3
    assert config.retry.statuses == {429, 500, 502, 503, 504}
    assert config.retry.on_connection_errors is True
    assert config.retry.respect_retry_after is True
    assert config.retry.max_retry_after_s == 60
    assert config.retry.jitter is True
    assert config.rate_limit is None
    assert config.follow_redirects is True
    assert config.max_redirects == 5
    assert config.max_response_bytes == 5 * 1024 * 1024


def test_a_full_document_validates_from_json_data() -> None:
    config = RequestConfig.model_validate(
        {
            "method": "POST",
            "endpoint": "https://api.example.com/{{ row.id }}",
            "query": {"q": "{{ row.name }}"},
            "headers": {"X-Api-Key": "{{ get_secret('key') }}"},
            "body": {"name": "{{ row.name }}", "tags": ["a", "{{ row.tag }}"]},
            "remove_nulls": True,
            "field_paths": "data.person.name, items.0.id",
            "timeout_s": 5,
            "retry": {"attempts": 5, "statuses": [500, 503], "max_retry_after_s": 10},
            "rate_limit": {"requests": 10, "per_ms": 1000, "max_wait_s": 5},
            "follow_redirects": False,
            "max_redirects": 2,
            "max_response_bytes": 1000,
        }
    )
    assert config.method is Method.POST
    assert config.retry.statuses == {500, 503}
    assert config.rate_limit == RateLimitConfig(requests=10, per_ms=1000, max_wait_s=5)
    assert config.parsed_field_paths == (("data", "person", "name"), ("items", "0", "id"))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"colour": "blue"}, "request.colour: Extra inputs are not permitted"),
        ({"method": "FETCH"}, "request.method: Input should be 'GET', 'POST', 'PUT'"),
        ({"endpoint": ""}, "request.endpoint: String should have at least 1 character"),
        ({"endpoint": "api.example.com/x"}, "request.endpoint: the endpoint must start with"),
        ({"endpoint": "ftp://example.com/x"}, "request.endpoint: ftp:// is not supported"),
        ({"endpoint": "https://x/{{ row.id }"}, "request.endpoint: Template syntax error"),
        ({"query": {"q": "{% if %}"}}, "request.query.q: Template syntax error"),
        ({"query": {" ": "x"}}, "request.query: a query parameter needs a name"),
        ({"headers": {"X-Key": "{{ x"}}, "request.headers.X-Key: Template syntax error"),
        ({"headers": {"Bad Header": "x"}}, "'Bad Header' is not a valid header name"),
        ({"headers": {"Host": "evil.example"}}, "the Host header is set by the engine"),
        ({"headers": {"Content-Length": "1"}}, "the Content-Length header is set by the engine"),
        ({"headers": {"Accept": "a", "accept": "b"}}, "the accept header is configured twice"),
        ({"method": "POST", "body": "text"}, "request.body: the body must be a JSON object"),
        ({"method": "POST", "body": 3}, "the body must be a JSON object or array"),
        (
            {"method": "POST", "body": {"user": {"name": "{{ row.name "}}},
            "request.body: body.user.name: Template syntax error",
        ),
        ({"body": {"a": 1}}, "a GET request cannot have a body"),
        ({"field_paths": "data..name"}, "request.field_paths: 'data..name' is not a valid"),
        ({"field_paths": " , "}, "request.field_paths: field_paths has no path"),
        ({"timeout_s": 0}, "request.timeout_s: Input should be greater than 0"),
        ({"timeout_s": 601}, "request.timeout_s: Input should be less than or equal to 600"),
        ({"retry": {"attempts": 0}}, "request.retry.attempts: Input should be greater than or"),
        ({"retry": {"attempts": 11}}, "request.retry.attempts: Input should be less than or"),
        ({"retry": {"backoff_s": -1}}, "request.retry.backoff_s: Input should be greater"),
        ({"retry": {"max_backoff_s": -1}}, "request.retry.max_backoff_s: Input should be"),
        ({"retry": {"statuses": [700]}}, "request.retry.statuses: 700 is not an HTTP status"),
        ({"retry": {"jitter": "maybe"}}, "request.retry.jitter: Input should be a valid boolean"),
        ({"retry": {"on_connection_errors": "x"}}, "request.retry.on_connection_errors: Input"),
        ({"retry": {"respect_retry_after": "x"}}, "request.retry.respect_retry_after: Input"),
        ({"retry": {"max_retry_after_s": -1}}, "request.retry.max_retry_after_s: Input"),
        ({"rate_limit": {"requests": 0, "per_ms": 1}}, "request.rate_limit.requests: Input"),
        ({"rate_limit": {"requests": 1, "per_ms": 0}}, "request.rate_limit.per_ms: Input"),
        ({"rate_limit": {"requests": 1}}, "request.rate_limit.per_ms: Field required"),
        (
            {"rate_limit": {"requests": 1, "per_ms": 1, "max_wait_s": -1}},
            "request.rate_limit.max_wait_s: Input",
        ),
        ({"remove_nulls": "sometimes"}, "request.remove_nulls: Input should be a valid boolean"),
        ({"follow_redirects": "x"}, "request.follow_redirects: Input should be a valid boolean"),
        ({"max_redirects": -1}, "request.max_redirects: Input should be greater than or equal"),
        ({"max_redirects": 21}, "request.max_redirects: Input should be less than or equal"),
        ({"max_response_bytes": 0}, "request.max_response_bytes: Input should be greater"),
        ({"max_response_bytes": 10**9}, "request.max_response_bytes: Input should be less"),
    ],
)
def test_invalid_fields_are_named_in_the_message(fields: dict[str, Any], expected: str) -> None:
    assert expected in error_of(**fields)


def test_validation_messages_never_echo_the_input() -> None:
    message = error_of(headers={"X-Key": "{{ get_secret('k') }} s3cr3t-value {{"})
    assert "s3cr3t-value" not in message


def test_config_is_immutable_once_validated() -> None:
    config = RequestConfig(endpoint=ENDPOINT)
    with pytest.raises(ValidationError):
        config.timeout_s = 1  # type: ignore[misc]


def test_column_keys_cover_every_templated_part() -> None:
    config = RequestConfig(
        method="POST",
        endpoint="https://api.example.com/{{ row.company_id }}",
        query={"q": "{{ row['full name'] }}", "{{ row.param_name }}": "x"},
        headers={"X-Trace": "{{ row.trace | upper }}"},
        body={"{{ row.key_col }}": ["{{ row.email if row.use_email else '' }}"]},
    )
    assert config.column_keys() == {
        "company_id",
        "full name",
        "param_name",
        "trace",
        "key_col",
        "email",
        "use_email",
    }


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("", ()),
        ("name", (("name",),)),
        ("data.person.name, items.0.id", (("data", "person", "name"), ("items", "0", "id"))),
        ("items[0].id,items[-1]", (("items", "0", "id"), ("items", "-1"))),
    ],
)
def test_field_paths_parse(text: str, paths: tuple[tuple[str, ...], ...]) -> None:
    assert parse_field_paths(text) == paths


@pytest.mark.parametrize(
    "fields",
    [
        {"endpoint": "https://api.example.com/\x00"},
        {"endpoint": "https://api.example.com/", "headers": {"X-A": "a\x00"}},
        {"endpoint": "https://api.example.com/", "method": "POST", "body": {"k\x00": 1}},
    ],
)
def test_a_nul_character_anywhere_is_refused_when_saved(fields) -> None:
    """PostgreSQL cannot store NUL in JSON: refused here, it never reaches the database."""
    with pytest.raises(ValidationError, match="NUL character"):
        RequestConfig(**fields)
