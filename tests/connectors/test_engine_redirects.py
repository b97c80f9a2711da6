"""Redirects: followed hop by hop, and nothing that identifies the caller leaves the origin."""

from __future__ import annotations

from collections.abc import Callable, Generator

import httpx
import pytest

from connectors import (
    MASK,
    BlockedAddressError,
    CredentialAuth,
    Engine,
    RequestConfig,
    TemplateContext,
    TooManyRedirectsError,
    UpstreamStatusError,
)
from tests.servers import LocalServer, RecordedRequest, Reply, echo, json_reply, redirect

Make = Callable[..., RequestConfig]
API_KEY = "key-0123456789"


class KeyAuth(CredentialAuth):
    """An API-key auth of the kind the auth layer adds: a custom header and a query key."""

    credential_headers = frozenset({"X-API-Key"})
    credential_query_params = frozenset({"api_key"})

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-API-Key"] = API_KEY
        request.headers["Authorization"] = f"Bearer {API_KEY}"
        request.url = request.url.copy_merge_params({"api_key": API_KEY})
        yield request

    def secret_values(self) -> frozenset[str]:
        return frozenset({API_KEY})


def preserving_query_redirect(target: str, status: int = 302) -> Callable[[RecordedRequest], Reply]:
    """Redirect to ``target`` keeping the query string, as many naive servers do."""

    def handle(request: RecordedRequest) -> Reply:
        query = "&".join(f"{k}={v[-1]}" for k, v in request.query.items())
        return Reply(status=status, headers={"Location": f"{target}?{query}"})

    return handle


def test_a_same_origin_redirect_keeps_the_credentials(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/old", redirect("/new", status=301))
    api_server.route("/new", echo())
    result = engine.send(make_config(api_server.url("/old")), auth=KeyAuth())
    assert result.ok
    assert result.value["path"] == "/new"
    assert api_server.requests[-1].header("x-api-key") == API_KEY
    assert result.value["headers"]["x-api-key"] == MASK  # the echo is masked
    assert api_server.requests[-1].query["api_key"] == [API_KEY]
    assert result.value["query"]["api_key"] == MASK
    assert [hop.status for hop in result.debug.attempts[0].hops] == [301, 200]


def test_a_cross_origin_redirect_drops_auth_headers_cookies_and_query_keys(
    engine: Engine, api_server: LocalServer, other_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/start", preserving_query_redirect(other_server.url("/landing")))
    other_server.route("/landing", echo())
    config = make_config(
        api_server.url("/start"),
        query={"keep": "yes", "token": "{{ get_secret('token') }}"},
        headers={
            "Cookie": "session=abc",
            "X-Custom-Auth": "{{ get_secret('token') }}",
            "X-Plain": "kept",
        },
    )
    result = engine.send(
        config, auth=KeyAuth(), context=TemplateContext(secrets={"token": "tok-987"})
    )
    assert result.ok, result.error
    first = api_server.requests_to("/start")[0]
    assert first.header("x-api-key") == API_KEY and first.header("cookie") == "session=abc"

    landed = other_server.requests_to("/landing")[0]
    for header in ("authorization", "x-api-key", "cookie", "x-custom-auth"):
        assert landed.header(header) is None, header
    assert landed.header("x-plain") == "kept"
    assert landed.query == {"keep": ["yes"]}
    assert API_KEY not in str(landed) and "tok-987" not in str(landed)


@pytest.mark.parametrize("status", [307, 308])
def test_a_cross_origin_307_or_308_drops_the_body(
    engine: Engine,
    api_server: LocalServer,
    other_server: LocalServer,
    make_config: Make,
    status: int,
) -> None:
    api_server.route("/submit", redirect(other_server.url("/elsewhere"), status=status))
    other_server.route("/elsewhere", echo())
    config = make_config(api_server.url("/submit"), method="POST", body={"ssn": "123-45-6789"})
    result = engine.send(config)
    assert result.ok
    landed = other_server.requests_to("/elsewhere")[0]
    assert landed.method == "POST"
    assert landed.body == b""
    assert landed.header("content-type") is None


@pytest.mark.parametrize("status", [307, 308])
def test_a_same_origin_307_or_308_keeps_method_and_body(
    engine: Engine, api_server: LocalServer, make_config: Make, status: int
) -> None:
    api_server.route("/submit", redirect("/v2/submit", status=status))
    api_server.route("/v2/submit", echo())
    config = make_config(api_server.url("/submit"), method="PUT", body={"n": 1})
    result = engine.send(config)
    assert result.value["method"] == "PUT"
    assert result.value["json"] == {"n": 1}


@pytest.mark.parametrize(
    ("status", "method"), [(303, "POST"), (302, "POST"), (301, "POST"), (303, "PUT")]
)
def test_see_other_and_post_redirects_become_get_without_a_body(
    engine: Engine, api_server: LocalServer, make_config: Make, status: int, method: str
) -> None:
    api_server.route("/create", redirect("/created", status=status))
    api_server.route("/created", echo())
    result = engine.send(make_config(api_server.url("/create"), method=method, body={"a": 1}))
    assert result.value["method"] == "GET"
    assert result.value["body"] == ""
    assert "content-type" not in result.value["headers"]


def test_too_many_redirects_stop_with_a_clear_error(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/loop", redirect("/loop"))
    result = engine.send(make_config(api_server.url("/loop"), max_redirects=3))
    assert isinstance(result.error, TooManyRedirectsError)
    assert result.error.message == "The API redirected more than 3 times (max_redirects)."
    assert api_server.count("/loop") == 4


def test_max_redirects_zero_refuses_the_first_redirect(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/old", redirect("/new"))
    api_server.route("/new", json_reply({}))
    result = engine.send(make_config(api_server.url("/old"), max_redirects=0))
    assert isinstance(result.error, TooManyRedirectsError)
    assert api_server.count("/new") == 0


def test_redirects_can_be_turned_off(
    engine: Engine, api_server: LocalServer, other_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/old", redirect(other_server.url("/new")))
    result = engine.send(make_config(api_server.url("/old"), follow_redirects=False))
    assert result.status == 302
    assert isinstance(result.error, UpstreamStatusError)
    assert result.debug.response_headers["Location"] == other_server.url("/new")
    assert other_server.count() == 0


def test_a_redirect_to_a_forbidden_scheme_is_refused(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/go", redirect("gopher://127.0.0.1:70/"))
    result = engine.send(make_config(api_server.url("/go")))
    assert isinstance(result.error, BlockedAddressError)


def test_cookies_set_by_an_api_are_never_sent_back(
    engine: Engine, api_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/login", lambda r: Reply(headers={"Set-Cookie": "sid=s3ss10n; Path=/"}))
    api_server.route("/me", echo())
    engine.send(make_config(api_server.url("/login")))
    result = engine.send(make_config(api_server.url("/me")))
    assert "cookie" not in result.value["headers"]


def test_the_debug_record_masks_credentials_on_every_hop(
    engine: Engine, api_server: LocalServer, other_server: LocalServer, make_config: Make
) -> None:
    api_server.route("/start", preserving_query_redirect(other_server.url("/landing")))
    other_server.route("/landing", echo())
    result = engine.send(make_config(api_server.url("/start")), auth=KeyAuth())
    text = str(result.debug.to_dict())
    assert API_KEY not in text
    assert result.debug.request_headers["X-API-Key"] == MASK
    assert result.debug.request_headers["Authorization"] == f"Bearer {MASK}"
    assert result.debug.attempts[0].hops[0].url.endswith(f"api_key={MASK}")
