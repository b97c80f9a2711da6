"""Every auth type through an enrichment column, on a real worker, against real token
endpoints and APIs on 127.0.0.1: the API sees credentials, the token endpoint is called once."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction
from jwcrypto import jwk, jws

from accounts.connection_accounts import account_create
from enrich.enrichment.runs import run_queue
from tests.enrich.enrichment.conftest import cells, wait_for_run
from tests.servers import LocalServer, RecordedRequest, Reply, json_reply
from tests.token_servers import TokenIssuer

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "column-password-canary"


@pytest.fixture
def token_server():
    with LocalServer() as server:
        yield server


def run_column(enrichment, worker):
    with transaction.atomic():
        run = run_queue(enrichment=enrichment)
    return wait_for_run(run, worker=worker)


def ec_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def test_api_key_and_static_accounts(celery_worker, workspace, leads, api, make_enrichment) -> None:
    api.route("/", lambda r: Reply.json({"key": r.header("x-api-key"), "team": r.header("x-team")}))
    key = account_create(
        workspace=workspace, name="Key", auth_type="api_key",
        fields={"key": "X-API-Key", "value": "k-12345678", "in": "header"},
    ).account  # fmt: skip
    static = account_create(
        workspace=workspace, name="Static", auth_type="static",
        fields={"headers": {"X-Team": "growth"}},
    ).account  # fmt: skip
    first = make_enrichment(leads, label="K", request={"endpoint": api.url("/")}, account=key)
    second = make_enrichment(leads, label="S", request={"endpoint": api.url("/")}, account=static)

    run_column(first, celery_worker)
    run_column(second, celery_worker)

    # The API received the credentials; echoed back, they are masked in the cells.
    assert {r.header("x-api-key") for r in api.requests} == {"k-12345678", None}
    assert {r.header("x-team") for r in api.requests} == {"growth", None}
    assert {cell.value["key"] for cell in cells(first)} == {"••••"}
    assert {cell.value["team"] for cell in cells(second)} == {"••••"}
    assert "k-12345678" not in json.dumps([[cell.value, cell.debug] for cell in cells(first)])


def test_jwt_token_endpoint_account_with_the_columns_token_fields(
    celery_worker, workspace, leads, api, token_server, make_enrichment
) -> None:
    issuer = TokenIssuer(jwt_tokens=True)
    token_server.route(
        "/login",
        issuer.password_endpoint(
            username="ada", password=PASSWORD, wrap=lambda token: {"data": {"jwt": token}}
        ),
    )
    api.route("/", issuer.protected(json_reply({"ok": True}), header="x-session", prefix="JWT"))
    account = account_create(
        workspace=workspace,
        name="Login",
        auth_type="jwt_token_endpoint",
        fields={"token_endpoint": token_server.url("/login"), "username": "ada",
                "password": PASSWORD},
    ).account  # fmt: skip
    enrichment = make_enrichment(
        leads,
        request={"endpoint": api.url("/?e={{ row.email }}")},
        account=account,
        token_fields={"token_location": "data.jwt", "token_type": "JWT",
                      "auth_header_name": "X-Session"},
    )  # fmt: skip

    run_column(enrichment, celery_worker)

    assert [cell.status for cell in cells(enrichment)] == ["done"] * 10
    assert token_server.count("/login") == 1
    shown = json.dumps([cell.debug for cell in cells(enrichment)])
    assert PASSWORD not in shown and "token-" not in shown


def test_a_wrong_token_location_fills_every_cell_with_the_hint(
    celery_worker, workspace, leads, api, token_server, make_enrichment
) -> None:
    issuer = TokenIssuer()
    token_server.route("/login", issuer.password_endpoint(username="ada", password=PASSWORD))
    account = account_create(
        workspace=workspace, name="Login", auth_type="jwt_token_endpoint",
        fields={"token_endpoint": token_server.url("/login"), "username": "ada",
                "password": PASSWORD},
    ).account  # fmt: skip
    enrichment = make_enrichment(
        leads,
        request={"endpoint": api.url("/")},
        account=account,
        token_fields={"token_location": "data.token"},
    )

    run_column(enrichment, celery_worker)

    errors = {cell.error for cell in cells(enrichment)}
    assert len(errors) == 1
    assert errors.pop().startswith(
        "Please fill out your auth fields: the token location “data.token”"
    )
    assert api.count() == 0
    assert token_server.count("/login") == 1  # the answer's shape is held, not asked per row


def test_a_wrong_password_logs_in_once_not_once_per_row(
    celery_worker, workspace, leads, api, token_server, make_enrichment
) -> None:
    issuer = TokenIssuer()
    token_server.route("/login", issuer.password_endpoint(username="ada", password=PASSWORD))
    account = account_create(
        workspace=workspace, name="Login", auth_type="jwt_token_endpoint",
        fields={"token_endpoint": token_server.url("/login"), "username": "ada",
                "password": "not-the-password"},
    ).account  # fmt: skip
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")}, account=account)

    run_column(enrichment, celery_worker)

    errors = {cell.error for cell in cells(enrichment)}
    assert len(errors) == 1
    assert errors.pop().endswith("answered 401 Unauthorized. Check the credentials.")
    assert token_server.count("/login") == 1  # the account is not locked out by 10 tries
    assert api.count() == 0


def test_oauth_client_credentials_and_signed_jwt_accounts(
    celery_worker, workspace, leads, api, token_server, make_enrichment
) -> None:
    issuer = TokenIssuer()
    token_server.route("/token", issuer.oauth_endpoint(client_id="c", client_secret="s3cret-value"))
    api.route("/oauth", issuer.protected(json_reply({"ok": True})))
    oauth = account_create(
        workspace=workspace, name="OAuth", auth_type="oauth_client_credentials",
        fields={"client_id": "c", "client_secret": "s3cret-value",
                "token_url": token_server.url("/token")},
    ).account  # fmt: skip
    pem = ec_pem()
    verifier = jwk.JWK(**json.loads(jwk.JWK.from_pem(pem.encode()).export_public()))

    def verify(request: RecordedRequest) -> Reply:
        token = request.header("authorization").removeprefix("Bearer ")
        checked = jws.JWS()
        checked.deserialize(token)
        checked.verify(verifier, alg="ES256")
        return Reply.json(json.loads(checked.payload))

    api.route("/signed", verify)
    signed = account_create(
        workspace=workspace, name="Signed", auth_type="jwt",
        fields={"private_key": pem, "algorithm": "ES256",
                "claims": {"sub": "{{ row.email }}", "exp": "{{ now(300) }}"}},
    ).account  # fmt: skip
    first = make_enrichment(
        leads, label="O", request={"endpoint": api.url("/oauth")}, account=oauth
    )
    second = make_enrichment(
        leads, label="J", request={"endpoint": api.url("/signed")}, account=signed
    )

    run_column(first, celery_worker)
    run_column(second, celery_worker)

    assert [cell.status for cell in cells(first)] == ["done"] * 10
    assert token_server.count("/token") == 1
    subjects = [cell.value["sub"] for cell in cells(second)]
    assert subjects == [f"lead{n}@example.test" for n in range(10)]


def test_oauth_jwt_bearer_account_and_a_token_revoked_mid_way(
    celery_worker, workspace, leads, api, token_server, make_enrichment
) -> None:
    """RFC 7523 through a column; then every token is revoked: the first 401 fetches a new one
    once for all workers and every row still ends done."""
    issuer = TokenIssuer()
    pem = ec_pem()
    verifying_key = jwk.JWK(**json.loads(jwk.JWK.from_pem(pem.encode()).export_public()))
    token_server.route(
        "/token", issuer.jwt_bearer_endpoint(verifying_key=verifying_key, algorithm="ES256")
    )
    api.route("/", issuer.protected(json_reply({"ok": True})))
    account = account_create(
        workspace=workspace, name="Bearer", auth_type="oauth_jwt_bearer",
        fields={"token_url": token_server.url("/token"), "client_id": "enrich",
                "private_key": pem, "algorithm": "ES256", "subject": "svc@example.test",
                "audience": token_server.url("/token")},
    ).account  # fmt: skip
    enrichment = make_enrichment(
        leads, request={"endpoint": api.url("/?e={{ row.email }}")}, account=account
    )

    run_column(enrichment, celery_worker)
    assert [cell.status for cell in cells(enrichment)] == ["done"] * 10
    assert token_server.count("/token") == 1
    assert issuer.assertions[0]["iss"] == "enrich"
    assert issuer.assertions[0]["sub"] == "svc@example.test"

    issuer.revoke_all()
    with transaction.atomic():
        rerun = run_queue(enrichment=enrichment, force=True)
    wait_for_run(rerun, worker=celery_worker)

    assert [(cell.status, cell.error) for cell in cells(enrichment)] == [("done", "")] * 10
    assert token_server.count("/token") == 2
