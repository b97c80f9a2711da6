"""The account at work: ``account_auth``, ``secret_lookup``, ``engine`` and Test connection,
against real token endpoints on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from django.conf import settings

from accounts import connections
from accounts.connection_accounts import account_create
from accounts.models import Account
from accounts.workspace_secrets import secret_create
from connectors import (
    AuthError,
    ConfigError,
    NoAuth,
    RequestConfig,
    TemplateContext,
    TemplateError,
    render_template,
)
from connectors.auth import TokenAuth
from connectors.debug import MASK, Masker
from tests.accounts.conftest import CLIENT_ID, USERNAME, canary, database_dump
from tests.servers import Handler, RecordedRequest, Reply
from tests.token_servers import TokenIssuer

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace(make_workspace):
    return make_workspace("Acme")


def make_account(workspace, document, name=None, **extra) -> Account:
    fields = {k: v for k, v in document.items() if k != "type"}
    return account_create(
        workspace=workspace,
        name=name or f"{document['type']} account",
        auth_type=document["type"],
        fields=fields,
        **extra,
    ).account


def test_engine_is_one_per_process_and_allows_the_configured_networks() -> None:
    engine = connections.engine()
    assert engine is connections.engine()
    assert engine.network_policy == type(engine.network_policy).allowing(
        *settings.ENRICH_ALLOWED_NETWORKS
    )
    store = type(engine.rate_limit_store).__name__
    assert store == ("RedisRateLimitStore" if settings.REDIS_URL else "InMemoryRateLimitStore")


def test_auth_options_share_the_token_cache_and_name_the_account(workspace, authority) -> None:
    account = make_account(workspace, authority.every_type()["oauth_client_credentials"])
    options = connections.auth_options(account=account)
    assert options.token_cache is connections.token_cache()
    assert options.http_client is connections.engine().client
    assert options.cache_namespace == f"account:{account.pk}"
    store = type(options.token_cache.store).__name__
    assert store == ("RedisTokenStore" if settings.REDIS_URL else "InMemoryTokenStore")


def test_account_auth_of_no_account_is_no_auth() -> None:
    assert isinstance(connections.account_auth(account=None, context=TemplateContext()), NoAuth)


@pytest.mark.parametrize(
    "auth_type",
    [
        "api_key",
        "static",
        "hmac_signature",
        "oauth_client_credentials",
        "jwt_token_endpoint",
        "oauth_jwt_bearer",
    ],
)
def test_account_auth_authenticates_a_real_request(workspace, authority, auth_type) -> None:
    account = make_account(workspace, authority.every_type()[auth_type])
    context = TemplateContext(row={"email": "ada@example.test"})
    auth = connections.account_auth(account=account, context=context)
    path = {"api_key": "/api/key", "static": "/api/open", "hmac_signature": "/api/signed"}.get(
        auth_type, "/api/me"
    )
    result = connections.engine().send(
        RequestConfig(endpoint=authority.url(path)), context=context, auth=auth
    )
    assert result.ok, result.error
    if auth_type == "static":
        sent = authority.server.requests_to("/api/open")[-1]
        assert sent.header("X-Static-Token")
        assert sent.header("Authorization").startswith("Basic ")


def test_a_cached_token_serves_every_auth_object_of_the_account(workspace, authority) -> None:
    account = make_account(workspace, authority.every_type()["oauth_client_credentials"])
    for _ in range(3):
        auth = connections.account_auth(account=account, context=TemplateContext())
        result = connections.engine().send(
            RequestConfig(endpoint=authority.url("/api/me")), auth=auth
        )
        assert result.ok
    assert authority.server.count("/oauth/token") == 1


def test_column_fields_override_the_accounts_token_placement(workspace, authority) -> None:
    document = authority.every_type()["jwt_token_endpoint"]
    account = make_account(workspace, document)
    authority.server.route(
        "/api/custom", authority.issuer.protected(lambda r: None, header="x-jwt", prefix="JWT")
    )
    auth = connections.account_auth(
        account=account,
        context=TemplateContext(),
        column_fields={"auth_header_name": "X-JWT", "token_type": "JWT"},
    )
    assert isinstance(auth, TokenAuth)
    assert auth.header_name == "X-JWT"
    assert auth.header_value("t") == "JWT t"


def test_a_column_cannot_override_a_secret_field(workspace, authority) -> None:
    account = make_account(workspace, authority.every_type()["jwt_token_endpoint"])
    with pytest.raises(ConfigError, match=r"auth\.password"):
        connections.account_auth(
            account=account, context=TemplateContext(), column_fields={"password": "x"}
        )


def test_an_unknown_column_field_names_itself(workspace, authority) -> None:
    account = make_account(workspace, authority.every_type()["jwt_token_endpoint"])
    with pytest.raises(ConfigError, match=r"auth\.token_place"):
        connections.account_auth(
            account=account, context=TemplateContext(), column_fields={"token_place": "x"}
        )


def test_undecryptable_account_secrets_are_an_auth_error(workspace, authority) -> None:
    account = make_account(workspace, authority.every_type()["api_key"])
    other = make_account(workspace, authority.every_type()["api_key"], name="other")
    # Another record's ciphertext does not authenticate here.
    Account.objects.filter(pk=account.pk).update(secrets_ciphertext=other.secrets_ciphertext)
    account.refresh_from_db()
    with pytest.raises(AuthError, match="cannot be decrypted") as raised:
        connections.account_auth(account=account, context=TemplateContext())
    assert authority.api_key not in raised.value.message


# --- secret_lookup ----------------------------------------------------------------------


def test_secret_lookup_reads_the_workspaces_secret(workspace) -> None:
    secret_create(workspace=workspace, name="TOKEN", value="s3cret-value", created_by=None)
    lookup = connections.secret_lookup(workspace=workspace)
    assert lookup("TOKEN") == "s3cret-value"
    assert lookup("MISSING") is None
    context = TemplateContext(secrets=lookup)
    assert context.get_secret("TOKEN") == "s3cret-value"


def test_a_short_workspace_secret_is_accepted_and_masked_only_where_it_stands_alone(
    workspace,
) -> None:
    secret_create(workspace=workspace, name="REGION", value="eu", created_by=None)
    context = TemplateContext(secrets=connections.secret_lookup(workspace=workspace))
    assert render_template("https://{{ get_secret('REGION') }}.api.example.test/", context) == (
        "https://eu.api.example.test/"
    )
    masker = Masker(context.secret_values())
    assert masker("region eu, in Europe, for eus") == "region ••••, in Europe, for eus"


def test_secret_lookup_never_reaches_another_workspace(make_workspace) -> None:
    a, b = make_workspace("A"), make_workspace("B")
    secret_create(workspace=b, name="B_ONLY", value="b-secret-value", created_by=None)
    lookup = connections.secret_lookup(workspace=a)
    assert lookup("B_ONLY") is None
    with pytest.raises(TemplateError) as raised:
        TemplateContext(secrets=lookup).get_secret("B_ONLY")
    assert "does not exist in this workspace" in raised.value.message
    assert "b-secret-value" not in raised.value.message


# --- Test connection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth_type", "expected"),
    [
        ("oauth_client_credentials", "Got a token"),
        ("oauth_jwt_bearer", "Got a token"),
        ("jwt_token_endpoint", "Got a token"),
        ("jwt", "Signed a sample JWT with ES256"),
        ("api_key", "Give a test URL"),
        ("static", "Give a test URL"),
        ("hmac_signature", "Give a test URL"),
        ("none", "sends no credentials"),
    ],
)
def test_every_type_passes_its_test(workspace, authority, auth_type, expected) -> None:
    document = authority.every_type()[auth_type]
    account = make_account(workspace, document)
    result = connections.account_test(account=account)
    assert result.ok, result.message
    assert expected in result.message
    account.refresh_from_db()
    assert account.last_test_status == Account.TestStatus.OK
    assert account.last_tested_at is not None
    raw = json.dumps(result.to_dict())
    for key in ("client_secret", "password", "value", "private_key", "secret"):
        if key in document:
            assert document[key] not in raw


def test_a_signing_account_is_tested_by_a_signed_request_to_its_test_url(
    workspace, authority
) -> None:
    document = authority.every_type()["hmac_signature"]
    account = make_account(workspace, document, test_url=authority.url("/api/signed"))

    result = connections.account_test(account=account)

    assert result.ok, result.message
    assert authority.signatures.verified == 1
    assert "answered 200" in result.message
    sent = authority.server.requests_to("/api/signed")[-1]
    shown = result.debug["test_request"]["request_headers"]
    assert shown["X-Signature"] == MASK and shown["X-Key-Id"] == document["key_id"]
    raw = json.dumps(result.to_dict())
    assert document["secret"] not in raw
    assert sent.header("x-signature").removeprefix("sha256=") not in raw


def test_token_test_fetches_afresh_and_shows_the_masked_exchange(workspace, authority) -> None:
    document = authority.every_type()["oauth_client_credentials"]
    account = make_account(workspace, document)
    connections.account_test(account=account)
    result = connections.account_test(account=account, test_url=authority.url("/api/me"))
    assert result.ok, result.message
    # Each test fetches a new token; the call to the API then uses it from the cache.
    assert authority.server.count("/oauth/token") == 2
    assert authority.server.count("/api/me") == 1
    (exchange,) = result.debug["token_requests"]
    assert exchange["method"] == "POST"
    assert exchange["response_status"] == 200
    assert "client_secret=••••" in exchange["request_body"]
    assert "token-" not in exchange["response_body"]
    assert result.debug["test_request"]["response_status"] == 200
    assert result.debug["test_request"]["request_headers"]["Authorization"] == "Bearer ••••"
    assert document["client_secret"] not in json.dumps(result.to_dict())


def test_wrong_credentials_fail_with_the_auth_layers_message(workspace, authority) -> None:
    document = {**authority.every_type()["jwt_token_endpoint"], "password": "wrong-password"}
    account = make_account(workspace, document)
    result = connections.account_test(account=account)
    assert not result.ok
    assert "answered 401" in result.message and "Check the credentials" in result.message
    assert result.debug["token_requests"][0]["response_status"] == 401
    assert "Invalid username or password" in result.debug["token_requests"][0]["response_body"]
    account.refresh_from_db()
    assert account.last_test_status == Account.TestStatus.FAILED
    assert "answered 401" in account.last_test_message


def test_a_wrong_token_location_says_which_keys_came_back(workspace, authority) -> None:
    document = {**authority.every_type()["jwt_token_endpoint"], "token_location": "token"}
    result = connections.account_test(account=make_account(workspace, document))
    assert not result.ok
    assert "top-level keys are: data" in result.message


def test_the_api_refusing_the_key_fails_the_test(workspace, authority) -> None:
    document = {**authority.every_type()["api_key"], "value": "not-the-key"}
    account = make_account(workspace, document, test_url=authority.url("/api/key"))
    result = connections.account_test(account=account)
    assert not result.ok
    assert "401" in result.message
    assert result.debug["test_request"]["request_headers"]["X-API-Key"] == "••••"


def test_an_unreachable_token_endpoint_is_a_clear_failure(workspace, authority) -> None:
    document = {
        **authority.every_type()["oauth_client_credentials"],
        "token_url": "http://127.0.0.1:9/token",
    }
    result = connections.account_test(account=make_account(workspace, document))
    assert not result.ok
    assert "Could not reach the token endpoint http://127.0.0.1:9/token" in result.message


def test_a_blocked_test_url_is_refused_by_the_network_guard(workspace, authority, settings):
    settings.ENRICH_ALLOWED_NETWORKS = []
    account = make_account(workspace, {"type": "none"}, test_url=authority.url("/api/open"))
    result = connections.account_test(account=account)
    assert not result.ok
    assert "loopback" in result.message
    assert authority.server.count("/api/open") == 0


def test_jwt_test_signs_claims_over_a_placeholder_row(workspace, authority) -> None:
    account = make_account(workspace, authority.every_type()["jwt"])
    result = connections.account_test(account=account)
    assert result.debug["jwt"]["header"]["alg"] == "ES256"
    assert result.debug["jwt"]["claims"]["sub"] == "<email>"


def echoing_token_endpoint(issuer: TokenIssuer) -> Handler:
    """A token endpoint that issues a token to anyone and echoes the request it received:
    headers (``Authorization: Basic …`` included) and body, as some debug servers do."""

    def handle(request: RecordedRequest) -> Reply:
        token = issuer.issue()
        return Reply.json(
            {
                "access_token": token,
                "data": {"access_token": token},
                "expires_in": 3600,
                "echo": {"headers": request.headers, "body": request.body.decode()},
            }
        )

    return handle


@pytest.mark.parametrize(
    ("auth_type", "option"),
    [
        ("oauth_client_credentials", {"client_auth": "client_secret_basic"}),
        ("oauth_client_credentials", {"client_auth": "client_secret_post"}),
        ("jwt_token_endpoint", {"credentials_in": "basic"}),
        ("jwt_token_endpoint", {"credentials_in": "form"}),
        ("jwt_token_endpoint", {"credentials_in": "json"}),
    ],
)
def test_test_connection_never_shows_credentials_a_token_endpoint_echoes(
    workspace, authority, auth_type, option
) -> None:
    first, last = canary("special"), canary("special")
    secret = f'{first}/+"\\=&?#% é€{last}'
    authority.server.route("/echo-token", echoing_token_endpoint(authority.issuer))
    document = {
        **authority.every_type()[auth_type],
        "token_url": authority.url("/echo-token"),
        "client_secret": secret,
        **option,
    }
    if auth_type == "jwt_token_endpoint":
        document = {
            **authority.every_type()[auth_type],
            "token_endpoint": authority.url("/echo-token"),
            "password": secret,
            **option,
        }
    account = make_account(workspace, document, test_url=authority.url("/api/me"))

    result = connections.account_test(account=account)

    assert result.ok, result.message
    (sent,) = authority.server.requests_to("/echo-token")
    basic = sent.header("authorization")
    if "basic" in json.dumps(option):
        # The endpoint received HTTP Basic, and answered with it.
        user = quote(CLIENT_ID, safe="") if auth_type.startswith("oauth") else USERNAME
        password = quote(secret, safe="") if auth_type.startswith("oauth") else secret
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert basic == f"Basic {pair}"
        forbidden = {basic, pair, pair.rstrip("=")}
    else:
        assert basic is None
        forbidden = set()
    (exchange,) = result.debug["token_requests"]
    assert "••••" in exchange["response_body"]
    account.refresh_from_db()
    shown = "\n".join(
        [
            json.dumps(result.to_dict(), ensure_ascii=False),
            json.dumps(result.to_dict()),
            account.last_test_message,
            database_dump(),
        ]
    )
    hits = [value[:24] for value in forbidden | {first, last} if value in shown]
    assert hits == []
