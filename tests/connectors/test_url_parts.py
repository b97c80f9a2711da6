"""A row value in the endpoint URL is data: it cannot change the path, the query or the
fragment, and ``|raw_path`` is the one way to insert URL text as written."""

from __future__ import annotations

import pytest

from connectors import ConfigError, TemplateContext, TemplateError
from connectors.config import RequestConfig
from connectors.request import render_request
from connectors.templating import check_template
from connectors.url_parts import url_part, url_part_before
from tests.servers import json_reply


def sent(engine, api_server, make_config, endpoint: str, **row):
    """Send ``endpoint`` rendered for ``row``; the one request the server received."""
    result = engine.send(make_config(api_server.url(endpoint)), context=TemplateContext(row=row))
    assert result.error is None or result.status == 404, result.error
    (request,) = api_server.requests
    return request


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("../../status/418", "/api/people/..%2F..%2Fstatus%2F418"),
        ("..", "/api/people/%2E%2E"),
        (".", "/api/people/%2E"),
        ("1?admin=true", "/api/people/1%3Fadmin%3Dtrue"),
        ("1#frag", "/api/people/1%23frag"),
        ("a b/c%2F", "/api/people/a%20b%2Fc%252F"),
        ("ada+1@example.test", "/api/people/ada%2B1%40example.test"),
    ],
)
def test_a_value_in_the_path_is_one_encoded_segment(
    engine, api_server, make_config, value: str, path: str
) -> None:
    api_server.route("/status/418", json_reply({"reached": True}, status=418))

    request = sent(engine, api_server, make_config, "/api/people/{{ row.id }}", id=value)

    assert request.path == path
    assert request.query == {}
    assert api_server.count("/status/418") == 0


def test_a_value_in_the_query_stays_one_query_value(engine, api_server, make_config) -> None:
    api_server.route("/search", json_reply({"ok": True}))

    request = sent(
        engine,
        api_server,
        make_config,
        "/search?email={{ row.email }}&page=1",
        email="ada+1@example.test&admin=1#x",
    )

    assert request.path == "/search"
    assert request.query == {"email": ["ada+1@example.test&admin=1#x"], "page": ["1"]}


def test_raw_path_inserts_url_text_as_written(engine, api_server, make_config) -> None:
    api_server.route("/api/v2/people", json_reply({"ok": True}))

    request = sent(
        engine, api_server, make_config, "/api/{{ row.path | raw_path }}", path="v2/people"
    )

    assert request.path == "/api/v2/people"


def test_an_expression_that_starts_the_url_is_its_origin(engine, api_server, make_config) -> None:
    api_server.route("/people/7", json_reply({"ok": True}))
    config = make_config("{{ row.site }}/people/{{ row.id }}")

    result = engine.send(config, context=TemplateContext(row={"site": api_server.origin, "id": 7}))

    assert result.ok, result.error
    assert [r.path for r in api_server.requests] == ["/people/7"]


@pytest.mark.parametrize("host", ["127.0.0.1/evil?", "evil.example#", "user@127.0.0.1", "a b"])
def test_a_value_in_the_host_cannot_reshape_the_url(host: str) -> None:
    config = RequestConfig(endpoint="http://{{ row.host }}/api")
    with pytest.raises(ConfigError, match="invalid host name"):
        render_request(config, TemplateContext(row={"host": host}))


def test_a_plain_name_in_the_host_is_kept() -> None:
    config = RequestConfig(endpoint="https://{{ row.tenant }}.example.com:8443/v1")
    rendered = render_request(config, TemplateContext(row={"tenant": "acme-eu"}))
    assert str(rendered.url) == "https://acme-eu.example.com:8443/v1"


def test_the_fragment_is_encoded_too() -> None:
    config = RequestConfig(endpoint="https://api.example.com/p#{{ row.x }}")
    rendered = render_request(config, TemplateContext(row={"x": "a#b c"}))
    assert str(rendered.url) == "https://api.example.com/p#a%23b%20c"


def test_query_fields_and_bodies_are_not_url_encoded_twice() -> None:
    config = RequestConfig(
        endpoint="https://api.example.com/find",
        method="POST",
        query={"q": "{{ row.q }}"},
        body={"q": "{{ row.q }}"},
    )
    rendered = render_request(config, TemplateContext(row={"q": "a&b c"}))
    assert rendered.url.params["q"] == "a&b c"
    assert rendered.content == b'{"q":"a&b c"}'


def test_a_missing_column_in_the_endpoint_is_still_a_template_error() -> None:
    config = RequestConfig(endpoint="https://api.example.com/{{ row.nope }}")
    with pytest.raises(TemplateError, match="nope"):
        render_request(config, TemplateContext(row={}))


def test_raw_path_may_carry_a_secret_it_does_not_transform() -> None:
    check_template("https://api.example.com/{{ get_secret('PATH_KEY') | raw_path }}")


@pytest.mark.parametrize(
    ("prefix", "part"),
    [
        ("", "origin"),
        ("\x00/people/", "path"),
        ("https://", "host"),
        ("https://api.example.com", "host"),
        ("https://api.example.com/", "path"),
        ("https://api.example.com/p?", "query"),
        ("https://api.example.com/p?a=1&b=", "query"),
        ("https://api.example.com/p?a=1#", "fragment"),
    ],
)
def test_the_part_is_read_from_the_literal_text_before(prefix: str, part: str) -> None:
    assert url_part_before(prefix) == part


def test_numbers_and_booleans_are_written_as_text() -> None:
    assert url_part(42, "path") == "42"
    assert url_part(True, "query") == "true"
    assert url_part(None, "path") == ""
