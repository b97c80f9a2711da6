"""Every auth type against real servers on 127.0.0.1: what the API receives, what is cached,
what a user is told when it goes wrong."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto import jwk, jws

from connectors import Engine, RequestConfig, TemplateContext
from connectors.auth import AuthOptions, InMemoryTokenStore, TokenCache, auth_types
from connectors.auth.signed_jwt import RECENT_TOKENS_PER_THREAD
from connectors.errors import ConfigError
from tests.connectors.conftest import fast_retry
from tests.servers import LocalServer, RecordedRequest, Reply, echo, json_reply, redirect
from tests.token_servers import TokenIssuer

PASSWORD = "pa55-word-canary"
CLIENT_SECRET = "client-secret-canary"


@pytest.fixture
def token_server():
    with LocalServer() as server:
        yield server


@pytest.fixture
def options(engine: Engine) -> AuthOptions:
    """A fresh token cache per test, token requests through the loopback-allowed engine."""
    return AuthOptions(token_cache=TokenCache(InMemoryTokenStore()), http_client=engine.client)


def build(data: dict[str, Any], options: AuthOptions, row: dict | None = None):
    context = TemplateContext(row=row or {})
    return auth_types.build(data, context=context, options=options), context


def send(engine: Engine, url: str, auth, context=None, **fields):
    config = RequestConfig(endpoint=url, retry=fast_retry(attempts=1), **fields)
    return engine.send(config, context=context, auth=auth)


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_jwk(private_pem: str) -> jwk.JWK:
    return jwk.JWK(**json.loads(jwk.JWK.from_pem(private_pem.encode()).export_public()))


# -- static types -----------------------------------------------------------------------------


def test_api_key_in_a_header(engine, api_server, options) -> None:
    api_server.route("/", echo())
    auth, _ = build({"type": "api_key", "key": "X-API-Key", "value": "k-123"}, options)

    result = send(engine, api_server.url("/"), auth)

    assert api_server.requests[0].header("x-api-key") == "k-123"
    assert "k-123" not in json.dumps(result.debug.to_dict())


def test_api_key_in_the_query_is_not_forwarded_across_origins(
    engine, api_server, other_server, options
) -> None:
    other_server.route("/landing", echo())
    api_server.route("/", redirect(other_server.url("/landing")))
    auth, _ = build({"type": "api_key", "key": "api_key", "value": "k-123", "in": "query"}, options)

    result = send(engine, api_server.url("/"), auth)

    assert result.ok
    assert api_server.requests[0].query["api_key"] == ["k-123"]
    assert "api_key" not in other_server.requests[0].query
    assert "k-123" not in json.dumps(result.debug.to_dict())


def test_static_headers_and_basic(engine, api_server, options) -> None:
    api_server.route("/", echo())
    auth, _ = build(
        {
            "type": "static",
            "headers": {"X-Team": "growth"},
            "username": "ada",
            "password": PASSWORD,
        },
        options,
    )

    result = send(engine, api_server.url("/"), auth)

    received = api_server.requests[0]
    assert received.header("x-team") == "growth"
    assert received.header("authorization") == "Basic " + base64.b64encode(
        f"ada:{PASSWORD}".encode()
    ).decode("ascii")
    assert PASSWORD not in json.dumps(result.debug.to_dict())


def test_credentials_are_refused_for_a_host_not_allowed_before_anything_is_sent(
    engine, api_server, options
) -> None:
    api_server.route("/", echo())
    auth, _ = build(
        {
            "type": "api_key",
            "key": "X-API-Key",
            "value": "k-123",
            "allowed_hosts": ["api.example.com", "*.example.org"],
        },
        options,
    )

    result = send(engine, api_server.url("/"), auth)

    assert not result.ok
    assert result.error.code == "auth"
    assert "may only be sent to api.example.com, *.example.org" in result.error.message
    assert "127.0.0.1" in result.error.message
    assert api_server.count() == 0


def test_allowed_hosts_let_the_named_host_through(engine, api_server, options) -> None:
    api_server.route("/", echo())
    auth, _ = build(
        {"type": "api_key", "key": "K", "value": "v", "allowed_hosts": "localhost, 127.0.0.1"},
        options,
    )
    assert send(engine, api_server.url("/"), auth).ok


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "api_key", "key": "X-API-Key"}, "auth.value: Field required"),
        ({"type": "api_key", "key": "bad header", "value": "v"}, "not a valid header name"),
        ({"type": "static"}, "Give at least one header or an HTTP Basic user name"),
        ({"type": "api_key", "key": "K", "value": "v", "allowed_hosts": ["https://x.com/"]},
         "is not a host name"),
        ({"type": "oauth_client_credentials", "client_id": "c", "client_secret": "s",
          "token_url": "not a url"}, "auth.token_url"),
        ({"type": "jwt", "private_key": "nope", "algorithm": "RS256"}, "not a valid PEM"),
        ({"type": "jwt", "private_key": "s" * 32, "algorithm": "HS256",
          "claims": {"sub": "{{ row.id"}}, "claims.sub"),
        ({"type": "jwt_token_endpoint", "token_endpoint": "https://x.example/login",
          "username": "u", "password": "p", "token_location": " "}, "dot path to the token"),
    ],
)  # fmt: skip
def test_each_config_mistake_names_its_field(data, message, options) -> None:
    with pytest.raises(ConfigError) as caught:
        build(data, options)
    assert message in caught.value.message


# -- OAuth client credentials ---------------------------------------------------------------


@pytest.mark.parametrize("client_auth", ["client_secret_post", "client_secret_basic"])
def test_oauth_client_credentials_fetch_once_for_many_requests(
    engine, api_server, token_server, options, client_auth
) -> None:
    issuer = TokenIssuer(lifetime_s=3600)
    seen_forms: list[dict[str, str]] = []
    token_server.route(
        "/token",
        issuer.oauth_endpoint(
            client_id="client 1", client_secret=CLIENT_SECRET, check=seen_forms.append
        ),
    )
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    auth, _ = build(
        {
            "type": "oauth_client_credentials",
            "client_id": "client 1",
            "client_secret": CLIENT_SECRET,
            "token_url": token_server.url("/token"),
            "scope": "read write",
            "extra_params": {"audience": "https://api.example.test"},
            "client_auth": client_auth,
        },
        options,
    )

    results = [send(engine, api_server.url("/"), auth) for _ in range(5)]

    assert all(result.ok for result in results)
    assert token_server.count("/token") == 1
    assert seen_forms[0]["scope"] == "read write"
    assert seen_forms[0]["audience"] == "https://api.example.test"
    assert ("client_secret" in seen_forms[0]) == (client_auth == "client_secret_post")
    assert "token-1" not in json.dumps(results[0].debug.to_dict())


def test_a_wrong_client_secret_is_a_clear_error_without_the_secret(
    engine, api_server, token_server, options
) -> None:
    token_server.route(
        "/token", TokenIssuer().oauth_endpoint(client_id="c", client_secret="right-secret")
    )
    auth, _ = build(
        {
            "type": "oauth_client_credentials",
            "client_id": "c",
            "client_secret": CLIENT_SECRET,
            "token_url": token_server.url("/token"),
        },
        options,
    )

    result = send(engine, api_server.url("/"), auth)

    assert result.error.code == "auth"
    assert result.error.message == (
        f"The token endpoint {token_server.url('/token')} answered 401 Unauthorized "
        "(invalid_client). Check the credentials."
    )
    assert CLIENT_SECRET not in json.dumps(result.to_dict())
    assert api_server.count() == 0


def test_a_401_replaces_the_token_once_and_retries(
    engine, api_server, token_server, options
) -> None:
    issuer = TokenIssuer()
    token_server.route("/token", issuer.oauth_endpoint(client_id="c", client_secret="s"))
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    auth, _ = build(
        {"type": "oauth_client_credentials", "client_id": "c", "client_secret": "s",
         "token_url": token_server.url("/token")},
        options,
    )  # fmt: skip
    assert send(engine, api_server.url("/"), auth).ok

    issuer.revoke_all()  # the API forgets every token it gave out
    result = send(engine, api_server.url("/"), auth)

    assert result.ok
    assert token_server.count("/token") == 2
    assert [r.header("authorization") for r in api_server.requests] == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ]
    # The refused request and the one sent again both count, in one attempt.
    assert (result.attempts, result.requests) == (1, 2)
    assert [hop.requests for hop in result.debug.attempts[0].hops] == [2]


def test_a_second_401_is_reported_not_looped(engine, api_server, token_server, options) -> None:
    issuer = TokenIssuer()
    token_server.route("/token", issuer.oauth_endpoint(client_id="c", client_secret="s"))
    api_server.route("/", json_reply({"error": "invalid_token"}, status=401))
    auth, _ = build(
        {"type": "oauth_client_credentials", "client_id": "c", "client_secret": "s",
         "token_url": token_server.url("/token")},
        options,
    )  # fmt: skip

    result = send(engine, api_server.url("/"), auth)

    assert result.status == 401
    assert result.error.code == "upstream_status"
    assert api_server.count() == 2
    assert result.requests == 2
    assert token_server.count("/token") == 2


def test_a_burst_of_401s_for_one_old_token_costs_one_fetch(
    engine, api_server, token_server, options
) -> None:
    issuer = TokenIssuer()
    token_server.route("/token", issuer.oauth_endpoint(client_id="c", client_secret="s"))
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    auth, _ = build(
        {"type": "oauth_client_credentials", "client_id": "c", "client_secret": "s",
         "token_url": token_server.url("/token")},
        options,
    )  # fmt: skip
    send(engine, api_server.url("/"), auth)
    issuer.revoke_all()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: send(engine, api_server.url("/"), auth), range(32)))

    assert all(result.ok for result in results)
    assert token_server.count("/token") == 2


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply.json({"error": "server_error"}, status=500), "answered 500 Internal Server Error"),
        (Reply.text("<html>maintenance</html>", content_type="text/html"),
         "did not answer with JSON (text/html)"),
        (Reply(status=302, headers={"Location": "/elsewhere"}), "answered 302 (a redirect)"),
        (Reply.json({"token": "x"}), "Please fill out your auth fields"),
    ],
)  # fmt: skip
def test_token_endpoint_failures_name_the_endpoint_and_what_happened(
    engine, api_server, token_server, options, reply, message
) -> None:
    token_server.route("/token", lambda request: reply)
    auth, _ = build(
        {"type": "oauth_client_credentials", "client_id": "c", "client_secret": CLIENT_SECRET,
         "token_url": token_server.url("/token")},
        options,
    )  # fmt: skip

    result = send(engine, api_server.url("/"), auth)

    assert message in result.error.message
    assert token_server.url("/token") in result.error.message
    assert CLIENT_SECRET not in result.error.message


def test_a_token_endpoint_that_does_not_answer_in_time(engine, api_server, options) -> None:
    with LocalServer() as slow:
        slow.route("/token", lambda request: Reply(delay_s=3, body=b"{}"))
        auth, _ = build(
            {"type": "oauth_client_credentials", "client_id": "c", "client_secret": CLIENT_SECRET,
             "token_url": slow.url("/token")},
            AuthOptions(
                token_cache=options.token_cache, http_client=options.http_client,
                token_timeout_s=0.3,
            ),
        )  # fmt: skip
        result = send(engine, api_server.url("/"), auth)
        token_url = slow.url("/token")
    assert result.error.message == f"The token endpoint {token_url} did not answer within 0.3 s."


def test_a_token_endpoint_on_a_refused_network_is_blocked(engine, api_server, options) -> None:
    public_only = Engine()  # loopback is not allowed for token requests here
    api_server.route("/", echo())
    auth, _ = build(
        {"type": "oauth_client_credentials", "client_id": "c", "client_secret": CLIENT_SECRET,
         "token_url": "http://127.0.0.1:9/token"},
        AuthOptions(token_cache=options.token_cache, http_client=public_only.client),
    )  # fmt: skip

    result = send(engine, api_server.url("/"), auth)

    assert result.error.code == "auth"
    assert result.error.message.startswith("The token endpoint http://127.0.0.1:9/token: ")
    assert "loopback" in result.error.message
    assert api_server.count() == 0


# -- JWT signed per request ---------------------------------------------------------------------


def test_a_jwt_signed_per_request_from_templated_claims(engine, api_server, options) -> None:
    private_pem = pem(ec.generate_private_key(ec.SECP256R1()))
    verifier = public_jwk(private_pem)
    claims_seen: list[dict] = []

    def verify(request: RecordedRequest) -> Reply:
        token = request.header("x-auth-token")
        checked = jws.JWS()
        checked.deserialize(token)
        checked.verify(verifier, alg="ES256")
        claims_seen.append(
            {"claims": json.loads(checked.payload), "kid": checked.jose_header["kid"]}
        )
        return Reply.json({"ok": True})

    api_server.route("/", verify)
    data = {
        "type": "jwt",
        "private_key": private_pem,
        "algorithm": "ES256",
        "claims": {"sub": "{{ row.email }}", "iat": "{{ now() }}", "exp": "{{ now(300) }}",
                   "tier": "{{ row.tier }}"},
        "jwt_headers": {"kid": "key-7"},
        "header_name": "X-Auth-Token",
        "token_type": "",
    }  # fmt: skip

    for email in ("ada@example.test", "grace@example.test"):
        auth, context = build(data, options, row={"email": email, "tier": 3})
        result = send(engine, api_server.url("/"), auth, context)
        assert result.ok, result.error
        assert private_pem not in json.dumps(result.debug.to_dict())

    first, second = (seen["claims"] for seen in claims_seen)
    assert first["sub"] == "ada@example.test" and second["sub"] == "grace@example.test"
    assert first["tier"] == 3
    assert isinstance(first["exp"], int) and first["exp"] - first["iat"] == 300
    assert claims_seen[0]["kid"] == "key-7"


def test_every_request_gets_a_freshly_signed_jwt(engine, api_server, options) -> None:
    tokens: list[str] = []
    lock = threading.Lock()

    def record(request: RecordedRequest) -> Reply:
        with lock:
            tokens.append(request.header("authorization"))
        return Reply.json({"ok": True})

    api_server.route("/", record)
    # ECDSA signatures are randomised: identical claims still give a new token each time.
    auth, _ = build(
        {"type": "jwt", "private_key": pem(ec.generate_private_key(ec.SECP256R1())),
         "algorithm": "ES256", "claims": {"sub": "{{ row.n }}"}},
        options,
        row={"n": 1},
    )  # fmt: skip
    for _ in range(3):
        assert send(engine, api_server.url("/"), auth).ok
    assert len(set(tokens)) == 3
    assert all(token.startswith("Bearer ey") for token in tokens)


# -- RFC 7523 JWT bearer --------------------------------------------------------------------------


def test_oauth_jwt_bearer_exchanges_a_signed_assertion_and_caches_the_token(
    engine, api_server, token_server, options
) -> None:
    private_pem = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    issuer = TokenIssuer(lifetime_s=600)
    token_server.route(
        "/token",
        issuer.jwt_bearer_endpoint(verifying_key=public_jwk(private_pem), algorithm="PS256"),
    )
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    auth, _ = build(
        {
            "type": "oauth_jwt_bearer",
            "client_id": "svc-account",
            "private_key": private_pem,
            "algorithm": "PS256",
            "token_url": token_server.url("/token"),
            "subject": "ada@example.test",
            "audience": token_server.url("/token"),
            "additional_claims": {"scope": "crm.read"},
            "jwt_headers": {"kid": "k1"},
        },
        options,
    )

    results = [send(engine, api_server.url("/"), auth) for _ in range(3)]

    assert all(result.ok for result in results)
    assert token_server.count("/token") == 1
    assertion = issuer.assertions[0]
    assert assertion["iss"] == "svc-account"
    assert assertion["sub"] == "ada@example.test"
    assert assertion["aud"] == token_server.url("/token")
    assert assertion["exp"] - assertion["iat"] == 180
    assert assertion["scope"] == "crm.read"
    assert assertion["jti"]


# -- JWT from a token endpoint (Clay's "HTTP API with JWT authentication") -------------------------


@pytest.mark.parametrize("send_as", ["json", "form", "basic"])
def test_jwt_token_endpoint_logs_in_and_sends_the_token(
    engine, api_server, token_server, options, send_as
) -> None:
    issuer = TokenIssuer(jwt_tokens=True)
    token_server.route(
        "/login",
        issuer.password_endpoint(
            username="ada",
            password=PASSWORD,
            send_as=send_as,
            fields=("email", "pass"),
            wrap=lambda token: {"data": {"token": token}},
        ),
    )
    api_server.route("/", issuer.protected(json_reply({"ok": True}), prefix="JWT", header="x-jwt"))
    auth, _ = build(
        {
            "type": "jwt_token_endpoint",
            "token_endpoint": token_server.url("/login"),
            "username": "ada",
            "password": PASSWORD,
            "credentials_in": send_as,
            "username_field": "email",
            "password_field": "pass",
            "token_location": "data.token",
            "token_type": "JWT",
            "auth_header_name": "X-JWT",
        },
        options,
    )

    results = [send(engine, api_server.url("/"), auth) for _ in range(3)]

    assert all(result.ok for result in results), results[0].error
    assert token_server.count("/login") == 1
    shown = json.dumps([result.to_dict() for result in results], ensure_ascii=False)
    assert PASSWORD not in shown
    assert "JWT ••••" in shown


def test_a_wrong_token_location_asks_to_fill_out_the_auth_fields(
    engine, api_server, token_server, options
) -> None:
    issuer = TokenIssuer()
    token_server.route("/login", issuer.password_endpoint(username="ada", password=PASSWORD))
    auth, _ = build(
        {"type": "jwt_token_endpoint", "token_endpoint": token_server.url("/login"),
         "username": "ada", "password": PASSWORD, "token_location": "data.jwt"},
        options,
    )  # fmt: skip

    result = send(engine, api_server.url("/"), auth)

    assert result.error.message == (
        "Please fill out your auth fields: the token location “data.jwt” found nothing in the "
        f"answer of {token_server.url('/login')}; the answer's top-level keys are: access_token."
    )
    assert "token-1" not in json.dumps(result.to_dict())
    assert api_server.count() == 0


def test_a_wrong_password_is_a_clear_error_with_no_secret_in_it(
    engine, api_server, token_server, options
) -> None:
    token_server.route("/login", TokenIssuer().password_endpoint(username="ada", password="right"))
    auth, _ = build(
        {"type": "jwt_token_endpoint", "token_endpoint": token_server.url("/login"),
         "username": "ada", "password": PASSWORD},
        options,
    )  # fmt: skip

    result = send(engine, api_server.url("/"), auth)

    assert result.error.message == (
        f"The token endpoint {token_server.url('/login')} answered 401 Unauthorized. "
        "Check the credentials."
    )
    assert PASSWORD not in json.dumps(result.to_dict())


def test_five_second_tokens_are_refreshed_without_a_failed_request(
    engine, api_server, token_server, options
) -> None:
    issuer = TokenIssuer(lifetime_s=5, jwt_tokens=True)
    token_server.route("/login", issuer.password_endpoint(username="ada", password=PASSWORD))
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    auth, _ = build(
        {"type": "jwt_token_endpoint", "token_endpoint": token_server.url("/login"),
         "username": "ada", "password": PASSWORD},
        options,
    )  # fmt: skip

    statuses = []
    stop = time.monotonic() + 7
    while time.monotonic() < stop:
        statuses.append(send(engine, api_server.url("/"), auth).status)
        time.sleep(0.1)

    assert set(statuses) == {200}
    assert 2 <= token_server.count("/login") <= 4
    # Never a refusal: the token was replaced before the API saw it expire.
    assert not [r for r in api_server.requests if not r.header("authorization")]


def test_64_concurrent_requests_cost_one_login(engine, api_server, token_server, options) -> None:
    issuer = TokenIssuer()

    def slow_login(request: RecordedRequest) -> Reply:
        reply = issuer.password_endpoint(username="ada", password=PASSWORD)(request)
        reply.delay_s = 0.3
        return reply

    token_server.route("/login", slow_login)
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    auth, _ = build(
        {"type": "jwt_token_endpoint", "token_endpoint": token_server.url("/login"),
         "username": "ada", "password": PASSWORD},
        options,
    )  # fmt: skip
    barrier = threading.Barrier(64)

    def one(_: int):
        barrier.wait()
        return send(engine, api_server.url("/"), auth)

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(one, range(64)))

    assert all(result.ok for result in results)
    assert token_server.count("/login") == 1


def test_editing_the_credentials_uses_a_new_token(engine, api_server, token_server) -> None:
    issuer = TokenIssuer()
    token_server.route("/login", issuer.password_endpoint(username="ada", password=PASSWORD))
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    shared = AuthOptions(
        token_cache=TokenCache(InMemoryTokenStore()), http_client=engine.client,
        cache_namespace="account-1",
    )  # fmt: skip
    base = {"type": "jwt_token_endpoint", "token_endpoint": token_server.url("/login"),
            "username": "ada", "password": PASSWORD}  # fmt: skip

    first, _ = build(base, shared)
    send(engine, api_server.url("/"), first)
    edited, _ = build({**base, "token_location": "access_token "}, shared)
    send(engine, api_server.url("/"), edited)
    moved, _ = build({**base, "token_type": "Bearer"}, shared)
    send(engine, api_server.url("/"), moved)

    assert token_server.count("/login") == 1  # same credentials, same path: same token
    wrong, _ = build({**base, "password": "changed"}, shared)
    assert send(engine, api_server.url("/"), wrong).error.code == "auth"
    assert token_server.count("/login") == 2


def test_a_long_run_remembers_only_the_jwts_each_thread_signed_last(
    engine, api_server, options
) -> None:
    # Every result masks the JWTs its own request carried. Remembering every JWT ever signed
    # made each result's masker grow with the run: quadratic over a long --repeat run.
    api_server.route("/", echo())
    auth, _ = build(
        {"type": "jwt", "private_key": pem(ec.generate_private_key(ec.SECP256R1())),
         "algorithm": "ES256"},
        options,
    )  # fmt: skip

    results = [send(engine, api_server.url("/"), auth) for _ in range(40)]

    assert len(auth.secret_values()) <= 1 + RECENT_TOKENS_PER_THREAD
    for result in results:
        sent = result.value["headers"]["authorization"].removeprefix("Bearer ")
        assert sent not in json.dumps(result.debug.to_dict())
