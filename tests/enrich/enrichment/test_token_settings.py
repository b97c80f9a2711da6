"""A JWT-token-endpoint account's token location, type and header are the defaults of every
column that uses it: a column inherits them unless it overrides them, and editing the account
changes every column that inherits. The panel, the command line and the worker agree."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from accounts.connection_accounts import account_create, account_update
from enrich.enrichment.models import EnrichmentColumn
from enrich.enrichment.runs import run_queue
from tests.enrich.enrichment.conftest import cells, wait_for_run
from tests.servers import LocalServer, json_reply
from tests.token_servers import TokenIssuer

PASSWORD = "token-settings-password-canary"


@pytest.fixture
def token_server():
    with LocalServer() as server:
        yield server


@pytest.fixture
def issuer(token_server, api) -> TokenIssuer:
    """A login that answers {"data": {"jwt": …}}; the API wants "JWT <token>" in X-Session."""
    issuer = TokenIssuer(jwt_tokens=True)
    token_server.route(
        "/login",
        issuer.password_endpoint(
            username="ada", password=PASSWORD, wrap=lambda token: {"data": {"jwt": token}}
        ),
    )
    api.route("/", issuer.protected(json_reply({"ok": True}), header="x-session", prefix="JWT"))
    return issuer


@pytest.fixture
def login_account(workspace, token_server):
    return account_create(
        workspace=workspace,
        name="Login",
        auth_type="jwt_token_endpoint",
        fields={
            "token_endpoint": token_server.url("/login"),
            "username": "ada",
            "password": PASSWORD,
            "token_location": "data.jwt",
            "token_type": "JWT",
            "auth_header_name": "X-Session",
        },
    ).account


def panel_data(endpoint: str, account, **overrides) -> dict[str, str]:
    data = {
        "label": "Profile",
        "account": str(account.pk),
        "method": "GET",
        "endpoint": endpoint,
        "timeout_s": "10",
        "retry_attempts": "1",
        "rate_limit_per_ms": "1000",
        "max_redirects": "5",
        "follow_redirects": "on",
        # What the browser posts when the fields show the account's values read-only.
        "token_location": "access_token",
        "token_type": "Bearer",
        "auth_header_name": "Authorization",
    }
    data.update(overrides)
    return data


def run_column(enrichment, worker):
    with transaction.atomic():
        run = run_queue(enrichment=enrichment)
    return wait_for_run(run, worker=worker)


@pytest.mark.django_db
def test_a_column_saved_from_the_panel_inherits_unless_it_overrides(
    client, leads, api, login_account
) -> None:
    page = client.get(reverse("enrichment_create", args=[leads.pk]))
    settings_attr = page.content.decode().split('data-account-token-settings="', 1)[1]
    shown = json.loads(settings_attr.split('"', 1)[0].replace("&quot;", '"'))
    assert shown[str(login_account.pk)] == {
        "token_location": "data.jwt",
        "token_type": "JWT",
        "auth_header_name": "X-Session",
    }
    assert PASSWORD not in page.content.decode()

    client.post(
        reverse("enrichment_create", args=[leads.pk]), panel_data(api.url("/"), login_account)
    )
    inheriting = EnrichmentColumn.objects.get(column__label="Profile")
    assert inheriting.token_fields == {}

    client.post(
        reverse("enrichment_create", args=[leads.pk]),
        panel_data(
            api.url("/"),
            login_account,
            label="Own",
            override_token_settings="on",
            token_location="token",
            token_type="",
        ),
    )
    own = EnrichmentColumn.objects.get(column__label="Own")
    assert own.token_fields == {
        "token_location": "token",
        "token_type": "",
        "auth_header_name": "Authorization",
    }

    # Changing one of the three keeps that one only: the other two go on following the account.
    client.post(
        reverse("enrichment_create", args=[leads.pk]),
        panel_data(
            api.url("/"),
            login_account,
            label="One field",
            override_token_settings="on",
            token_location="data.jwt",
            token_type="JWT",
            auth_header_name="X-Token",
        ),
    )
    one = EnrichmentColumn.objects.get(column__label="One field")
    assert one.token_fields == {"auth_header_name": "X-Token"}
    edit = client.get(reverse("enrichment_edit", args=[one.pk]))
    assert edit.context["form"].initial["override_token_settings"] is True
    assert edit.context["form"].initial["token_location"] == "data.jwt"
    assert edit.context["form"].initial["auth_header_name"] == "X-Token"

    edit = client.get(reverse("enrichment_edit", args=[inheriting.pk]))
    form = edit.context["form"]
    assert form.initial["override_token_settings"] is False
    assert form.initial["token_location"] == "data.jwt"
    edit = client.get(reverse("enrichment_edit", args=[own.pk]))
    assert edit.context["form"].initial["override_token_settings"] is True
    assert edit.context["form"].initial["token_location"] == "token"


@pytest.mark.django_db
def test_the_command_line_without_token_fields_inherits(
    workspace, leads, api, login_account, tmp_path
) -> None:
    spec = tmp_path / "column.json"
    spec.write_text(json.dumps({"request": {"endpoint": api.url("/")}, "account": "Login"}))
    call_command(
        "add_http_column",
        workspace=str(workspace.pk),
        table=str(leads.pk),
        name="CLI",
        file=str(spec),
    )
    assert EnrichmentColumn.objects.get(column__label="CLI").token_fields == {}

    spec.write_text(
        json.dumps(
            {"request": {"endpoint": api.url("/")}, "account": "Login", "token_type": "Token"}
        )
    )
    call_command(
        "add_http_column", workspace=str(workspace.pk), table=str(leads.pk), name="CLI 2",
        file=str(spec),
    )  # fmt: skip
    assert EnrichmentColumn.objects.get(column__label="CLI 2").token_fields == {
        "token_type": "Token"
    }


@pytest.mark.django_db(transaction=True)
def test_inheriting_columns_use_the_account_settings_and_follow_its_edits(
    celery_worker, workspace, leads, api, token_server, issuer, login_account, make_enrichment
) -> None:
    inheriting = make_enrichment(
        leads, label="Inherits", request={"endpoint": api.url("/")}, account=login_account
    )
    overriding = make_enrichment(
        leads,
        label="Overrides",
        request={"endpoint": api.url("/")},
        account=login_account,
        token_fields={"auth_header_name": "Authorization"},
    )

    run_column(inheriting, celery_worker)
    assert [cell.status for cell in cells(inheriting)] == ["done"] * 10
    assert token_server.count("/login") == 1

    run_column(overriding, celery_worker)
    # The override sends the token in the wrong header for this API: a 401 on every row.
    assert {cell.status for cell in cells(overriding)} == {"error"}
    assert {cell.http_status for cell in cells(overriding)} == {401}

    # The API moves the token to Authorization: the account is edited, not each column.
    api.route("/", issuer.protected(json_reply({"ok": True}), header="authorization", prefix="JWT"))
    account_update(account=login_account, fields={"auth_header_name": "Authorization"})
    with transaction.atomic():
        run = run_queue(enrichment=inheriting, force=True)
    wait_for_run(run, worker=celery_worker)
    assert [cell.status for cell in cells(inheriting)] == ["done"] * 10
    assert PASSWORD not in json.dumps([cell.debug for cell in cells(inheriting)])
