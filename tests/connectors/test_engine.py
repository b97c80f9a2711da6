"""The engine end to end: methods, templated parts, results, masking and the auth seam."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator

import httpx
import pytest

from connectors import (
    MASK,
    BlockedAddressError,
    ConfigError,
    CredentialAuth,
    Engine,
    NoAuth,
    RequestConfig,
    TemplateContext,
    TemplateError,
    auth_types,
    send,
)
from tests.servers import LocalServer, echo, json_reply

Make = Callable[..., RequestConfig]
SECRET = "sk_live_abcdef123456"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_method_is_sent(
    engine: Engine, api_server: LocalServer, make_config: Make, method: str
) -> None:
    api_server.route("/echo", echo())
    body = None if method == "GET" else {"m": method}
    result = engine.send(make_config(api_server.url("/echo"), method=method, body=body))
    assert result.ok
    assert result.value["method"] == method
    assert result.value["json"] == body


def test_endpoint_query_headers_and_body_are_rendered_from_the_row(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/people/42", echo())
    config = make_config(
        api_server.origin + "/people/{{ row.id }}",
        method="POST",
        query={"q": "{{ row.name }}", "fixed": "1"},
        headers={"X-Name": "{{ row.name }}", "Accept": "application/json"},
        body={"name": "{{ row.name }}", "id": "{{ row.id }}"},
    )
    result = engine.send(config, context=TemplateContext(row={"id": 42, "name": "José & co"}))
    assert result.ok, result.error
    assert result.value["query"] == {"q": "José & co", "fixed": "1"}
    assert result.value["headers"]["x-name"].encode("latin-1").decode() == "José & co"
    assert result.value["headers"]["content-type"] == "application/json"
    assert result.value["json"] == {"name": "José & co", "id": 42}


def test_a_configured_content_type_wins(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/echo", echo())
    config = make_config(
        api_server.url("/echo"),
        method="POST",
        body={"a": 1},
        headers={"Content-Type": "application/vnd.api+json"},
    )
    assert engine.send(config).value["headers"]["content-type"] == "application/vnd.api+json"


def test_remove_nulls_applies_to_the_sent_body(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/echo", echo())
    config = make_config(
        api_server.url("/echo"),
        method="POST",
        remove_nulls=True,
        body={"email": "{{ row.email }}", "name": "{{ row.name }}", "phone": "{{ row.phone }}"},
    )
    result = engine.send(config, context=TemplateContext(row={"email": None, "name": "Ada"}))
    assert result.value["json"] == {"name": "Ada"}


def test_a_result_carries_status_headers_timing_and_attempts(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/r", json_reply({"a": 1}, headers={"X-Request-Id": "abc"}))
    result = engine.send(make_config(api_server.url("/r")))
    assert (result.ok, result.status, result.attempts, result.error) == (True, 200, 1, None)
    assert result.headers["x-request-id"] == "abc"
    assert result.elapsed_ms > 0
    data = result.to_dict()
    assert set(data) == {
        "ok", "status", "value", "error", "attempts", "requests", "elapsed_ms", "debug"
    }  # fmt: skip
    json.dumps(data)


def test_a_template_error_is_a_result_with_the_templates_in_the_debug_record(
    engine: Engine,
) -> None:
    config = RequestConfig(
        endpoint="https://api.example.com/{{ row.id }}", headers={"X-Key": "{{ get_secret('k') }}"}
    )
    result = engine.send(config, context=TemplateContext(row={}))
    assert isinstance(result.error, TemplateError)
    assert (
        result.error.message == "The template uses an undefined value: the row has no column 'id'."
    )
    assert result.attempts == 0
    assert result.debug.url == "https://api.example.com/{{ row.id }}"
    assert result.debug.request_headers == {"X-Key": "{{ get_secret('k') }}"}
    assert result.debug.error_code == "template"


def test_an_endpoint_that_renders_to_garbage_is_a_config_error(engine: Engine) -> None:
    for url in ("http://[::1/", "http://exa mple.com/", "http://bad_host!.example/"):
        result = engine.send(
            RequestConfig(endpoint="{{ row.url }}"), context=TemplateContext(row={"url": url})
        )
        assert isinstance(result.error, ConfigError), url
        assert result.attempts == 0


def test_a_header_that_renders_a_line_break_is_refused(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/echo", echo())
    config = make_config(api_server.url("/echo"), headers={"X-Note": "{{ row.note }}"})
    result = engine.send(config, context=TemplateContext(row={"note": "a\r\nX-Injected: 1"}))
    assert isinstance(result.error, TemplateError)
    assert api_server.count() == 0


class HeaderKeyAuth(CredentialAuth):
    credential_headers = frozenset({"X-Auth-Token"})

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Token"] = self.token
        yield request

    def secret_values(self) -> frozenset[str]:
        return frozenset({self.token})


def test_secrets_never_appear_in_the_result_debug_record_or_error(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route(f"/v1/{SECRET}/echo", echo())
    config = make_config(
        api_server.origin + "/v1/{{ get_secret('key') }}/echo",
        method="POST",
        query={"api_key": "{{ get_secret('key') }}", "q": "x"},
        headers={
            "Authorization": "Bearer {{ get_secret('key') }}",
            "X-Signature": "{{ get_secret('key') | base64_encode }}",
        },
        body={"key": "{{ get_secret('key') }}", "note": "key is {{ get_secret('key') }}"},
    )
    auth = HeaderKeyAuth("auth-token-xyz")
    result = engine.send(config, context=TemplateContext(secrets={"key": SECRET}), auth=auth)
    assert result.ok, result.error
    # The API really received the values...
    sent = api_server.requests[-1]
    assert sent.header("x-auth-token") == "auth-token-xyz"
    assert sent.query["api_key"] == [SECRET]
    # ...and neither the value, the answer nor the debug record shows any of them.
    assert result.value["headers"]["x-auth-token"] == MASK
    assert result.value["query"]["api_key"] == MASK
    # A text that a secret template produced is masked whole (it is a derived secret).
    assert result.value["json"] == {"key": MASK, "note": MASK}
    debug = json.dumps(result.debug.to_dict(), ensure_ascii=False)
    shown = json.dumps([result.value, result.body, result.headers], ensure_ascii=False)
    for secret in (SECRET, "auth-token-xyz", "c2tfbGl2ZV9hYmNkZWYxMjM0NTY="):
        assert secret not in debug
        assert secret not in shown
    assert result.debug.request_headers["Authorization"] == "Bearer {{ get_secret('key') }}"
    assert result.debug.request_headers["X-Signature"] == "{{ get_secret('key') | base64_encode }}"
    assert result.debug.request_headers["X-Auth-Token"] == MASK
    assert f"/v1/{MASK}/echo?api_key={MASK}&q=x" in result.debug.url
    assert json.loads(result.debug.request_body or "") == {
        "key": "{{ get_secret('key') }}",
        "note": "key is {{ get_secret('key') }}",
    }


def test_a_secret_in_an_error_message_is_masked(make_config: Make) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    from connectors import NetworkPolicy

    engine = Engine(network_policy=NetworkPolicy(resolver=resolver))
    config = make_config("https://{{ get_secret('tenant') }}.example.com/", retry={"attempts": 1})
    result = engine.send(config, context=TemplateContext(secrets={"tenant": "acme-private"}))
    assert result.error is not None
    assert result.error.message == f"Could not resolve the host name {MASK}.example.com."
    assert "acme-private" not in json.dumps(result.debug.to_dict())


def test_an_auth_error_raised_by_the_auth_flow_becomes_the_result(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    from connectors import AuthError

    class RefusingAuth(CredentialAuth):
        def auth_flow(
            self, request: httpx.Request
        ) -> Generator[httpx.Request, httpx.Response, None]:
            raise AuthError("Please fill out your auth fields.")
            yield request

    api_server.route("/x", json_reply({}))
    result = engine.send(
        make_config(api_server.url("/x"), retry={"attempts": 1}), auth=RefusingAuth()
    )
    assert isinstance(result.error, AuthError)
    assert api_server.count() == 0


def test_an_auth_flow_can_answer_a_401_by_sending_again(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    from tests.servers import fail_times

    class RefreshingAuth(CredentialAuth):
        def auth_flow(
            self, request: httpx.Request
        ) -> Generator[httpx.Request, httpx.Response, None]:
            request.headers["Authorization"] = "Bearer old"
            response = yield request
            if response.status_code == 401:
                request.headers["Authorization"] = "Bearer new"
                yield request

    api_server.route("/me", fail_times(1, status=401, then=echo()))
    result = engine.send(make_config(api_server.url("/me")), auth=RefreshingAuth())
    assert result.ok and result.attempts == 1
    assert [r.header("authorization") for r in api_server.requests_to("/me")] == [
        "Bearer old",
        "Bearer new",
    ]


def test_the_none_auth_type_is_registered_and_adds_nothing(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/echo", echo())
    auth = auth_types.build({"type": "none"}, context=TemplateContext())
    assert isinstance(auth, NoAuth)
    result = engine.send(make_config(api_server.url("/echo")), auth=auth)
    assert "authorization" not in result.value["headers"]


def test_unknown_auth_types_and_fields_are_config_errors_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"auth\.type: unknown auth type 'magic'"):
        auth_types.build({"type": "magic"}, context=TemplateContext())
    with pytest.raises(ConfigError, match=r"auth\.token: Extra inputs are not permitted"):
        auth_types.build({"type": "none", "token": "x"}, context=TemplateContext())


def test_the_module_level_send_reaches_only_the_public_internet(api_server: LocalServer) -> None:
    api_server.route("/", json_reply({}))
    result = send(RequestConfig(endpoint=api_server.url("/")))
    assert isinstance(result.error, BlockedAddressError)
    assert api_server.count() == 0


def test_one_engine_serves_many_threads(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api_server.route("/echo", echo())
    config = make_config(api_server.url("/echo"), query={"i": "{{ row.i }}"})
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(
            pool.map(
                lambda i: engine.send(config, context=TemplateContext(row={"i": i})), range(64)
            )
        )
    assert [r.value["query"]["i"] for r in results] == [str(i) for i in range(64)]
