"""Owners decide where an account's credentials may go: allowed hosts are proposed from the
account's token endpoint and test URL, an owner's column adds its host, and a member's column
cannot send the credentials anywhere else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.connection_accounts import account_create
from accounts.models import Account
from enrich.enrichment import pipeline
from enrich.enrichment.columns import (
    EnrichmentProblems,
    EnrichmentSpec,
    enrichment_column_create,
)
from enrich.enrichment.models import EnrichmentColumn
from enrich.rows import row_add
from tests.conftest import member_of
from tests.enrich.enrichment.test_views import panel_data
from tests.servers import json_reply

pytestmark = pytest.mark.django_db
KEY = "k-credential-hosts-1234"


def api_key_account(workspace, name: str = "Key", **extra) -> Account:
    fields = {"key": "X-API-Key", "value": KEY, **extra}
    return account_create(
        workspace=workspace, name=name, auth_type="api_key", fields=fields
    ).account


def allowed(account: Account) -> list[str]:
    account.refresh_from_db()
    return list(account.config.get("allowed_hosts") or [])


@pytest.fixture
def member_client(workspace, make_user) -> Client:
    user = make_user()
    member_of(workspace, user)
    client = Client()
    client.force_login(user)
    return client


def test_allowed_hosts_are_proposed_from_the_token_endpoint_and_test_url(client, workspace) -> None:
    account = account_create(
        workspace=workspace,
        name="CRM",
        auth_type="oauth_client_credentials",
        fields={
            "token_url": "https://auth.crm.example/oauth/token",
            "client_id": "enrich",
            "client_secret": "s-proposed-hosts-1",
        },
        test_url="https://api.crm.example/v1/me",
    ).account

    assert allowed(account) == ["auth.crm.example", "api.crm.example"]
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "Credentials go only to</strong> auth.crm.example, api.crm.example" in page


def test_hosts_an_owner_chose_are_kept(workspace) -> None:
    account = api_key_account(workspace, allowed_hosts="api.example.com")
    assert allowed(account) == ["api.example.com"]


def test_an_owners_first_column_adds_its_host(client, workspace, leads, api) -> None:
    account = api_key_account(workspace)
    assert allowed(account) == []
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "No allowed hosts yet" in page

    response = client.post(
        reverse("enrichment_create", args=[leads.pk]),
        panel_data(api.url("/people"), account=str(account.pk)),
    )

    assert response.status_code == 302
    assert allowed(account) == ["127.0.0.1"]


def test_a_members_column_cannot_send_credentials_outside_the_allowed_hosts(
    member_client, workspace, leads, api
) -> None:
    account = api_key_account(workspace, allowed_hosts="api.crm.example")

    response = member_client.post(
        reverse("enrichment_create", args=[leads.pk]),
        panel_data(api.url("/people"), account=str(account.pk)),
    )

    assert response.status_code == 200
    errors = str(response.context["form"].errors)
    assert "“Key” may only send its credentials to api.crm.example, not to 127.0.0.1" in errors
    assert "Ask an owner to add the host" in errors
    assert not EnrichmentColumn.objects.exists()
    assert allowed(account) == ["api.crm.example"]


def test_a_member_cannot_pick_an_account_whose_owners_set_no_hosts(
    member_client, workspace, leads, api
) -> None:
    account = api_key_account(workspace)

    response = member_client.post(
        reverse("enrichment_create", args=[leads.pk]),
        panel_data(api.url("/people"), account=str(account.pk)),
    )

    assert response.status_code == 200
    assert "has no allowed hosts yet" in str(response.context["form"].errors)
    assert allowed(account) == [] and not EnrichmentColumn.objects.exists()


def test_a_members_column_within_the_allowed_hosts_is_saved(
    member_client, workspace, leads, api
) -> None:
    account = api_key_account(workspace, allowed_hosts="127.0.0.1")

    response = member_client.post(
        reverse("enrichment_create", args=[leads.pk]),
        panel_data(api.url("/people"), account=str(account.pk)),
    )

    assert response.status_code == 302
    assert EnrichmentColumn.objects.get().account == account


def test_a_templated_host_outside_the_allowed_hosts_fails_each_cell_clearly(
    workspace, make_table, api
) -> None:
    """A member's ``{{ row.url }}`` is checked when each request is sent: a row that points
    elsewhere fails before anything is sent, with the message naming the allowed hosts."""
    api.route("/me", json_reply({"ok": True}))
    table = make_table(workspace, columns=["Url"])
    account = api_key_account(workspace, allowed_hosts="127.0.0.1")
    enrichment = enrichment_column_create(
        table=table,
        label="Fetch",
        spec=EnrichmentSpec(
            request={"endpoint": "{{ row.url }}", "retry": {"attempts": 1}},
            account=account,
            by_owner=False,
        ),
    )

    inside = row_add(table=table, values={"url": api.url("/me")})
    outside = row_add(table=table, values={"url": api.url("/me").replace("127.0.0.1", "localhost")})

    assert pipeline.execute(enrichment=enrichment, row=inside).status == "done"
    refused = pipeline.execute(enrichment=enrichment, row=outside)
    assert refused.status == "error"
    assert "may only be sent to 127.0.0.1; the request goes to localhost" in refused.error
    assert [r.header("X-API-Key") for r in api.requests] == [KEY]


@pytest.mark.parametrize("by_owner", [True, False])
def test_a_host_the_row_writes_needs_allowed_hosts_first(workspace, make_table, by_owner) -> None:
    """Otherwise whoever edits a row would choose where the credentials go, owner or not."""
    table = make_table(workspace, columns=["Url", "Tenant"])
    account = api_key_account(workspace)
    for endpoint in ("{{ row.url }}", "https://{{ row.tenant }}.crm.example/v1"):
        spec = EnrichmentSpec(request={"endpoint": endpoint}, account=account, by_owner=by_owner)
        with pytest.raises(EnrichmentProblems) as problems:
            enrichment_column_create(table=table, label="Fetch", spec=spec)
        assert "“Key” has no allowed hosts yet" in problems.value.errors["endpoint"]
    assert not EnrichmentColumn.objects.exists()

    account = api_key_account(workspace, name="Scoped", allowed_hosts="*.crm.example")
    spec = EnrichmentSpec(
        request={"endpoint": "https://{{ row.tenant }}.crm.example/v1"},
        account=account,
        by_owner=by_owner,
    )
    assert enrichment_column_create(table=table, label="Fetch", spec=spec).account == account
