"""Columns and accounts saved by earlier versions come through every migration since, on the
real migrations: rolled back to the first schema, filled as that version stored things, then
migrated forward.

- Token settings stored with the old defaults inherit the account's (0003).
- Accounts without allowed hosts get them proposed from their token endpoint and the fixed
  hosts of their columns (0004).
- HTTP columns become the ``http_api`` kind with their request and overrides as its config,
  and the accounts they use are listed (0005).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import Account as CurrentAccount
from enrich.enrichment.models import ColumnAccount, EnrichmentColumn
from enrich.enrichment.pipeline import input_hash
from enrich.models import Row

START = [("enrichment", "0002_resumable_runs"), ("accounts", "0002_account_secret")]


def migrate(targets):
    """Migrate the test database to ``targets``; the historical apps of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_columns_and_accounts_from_the_first_schema_come_through_every_migration() -> None:
    old = migrate(START)
    workspace = old.get_model("accounts", "Workspace").objects.create(name="Old")
    Account = old.get_model("accounts", "Account")
    oauth = Account.objects.create(
        workspace=workspace,
        name="CRM",
        auth_type="oauth_client_credentials",
        config={"token_url": "https://auth.crm.example/oauth/token", "client_id": "enrich"},
    )
    login = Account.objects.create(
        workspace=workspace,
        name="Login",
        auth_type="jwt_token_endpoint",
        config={
            "token_endpoint": "https://login.example/token",
            "username": "ada",
            "token_location": "data.jwt",
            "auth_header_name": "X-Session",
        },
    )
    Account.objects.create(
        workspace=workspace, name="Unused", auth_type="api_key", config={"key": "X-API-Key"}
    )
    table = old.get_model("enrich", "Table").objects.create(workspace=workspace, name="Leads")
    Column = old.get_model("enrich", "Column")
    Column.objects.create(table=table, key="email", label="Email", kind="text", position=0)
    OldEnrichment = old.get_model("enrichment", "EnrichmentColumn")

    def enrichment(key, account, request, token_fields):
        column = Column.objects.create(table=table, key=key, label=key, kind="enrichment")
        return OldEnrichment.objects.create(
            column=column,
            account=account,
            request=request,
            token_fields=token_fields,
            dependencies=["email"],
        ).pk

    people = enrichment(
        "people",
        oauth,
        {"endpoint": "https://api.crm.example/v1/people?e={{ row.email }}"},
        {},
    )
    # What the column form used to store whatever was typed: the three old defaults.
    defaults = enrichment(
        "defaults",
        login,
        {"endpoint": "https://api.login.example/me"},
        {
            "token_location": "access_token",
            "token_type": "Bearer",
            "auth_header_name": "Authorization",
        },
    )
    chosen = enrichment(
        "chosen",
        login,
        {"endpoint": "{{ row.email }}"},
        {"token_location": "data.jwt", "token_type": "Bearer", "auth_header_name": "X-Session"},
    )

    migrate(latest())

    allowed = {a.name: a.config.get("allowed_hosts") for a in CurrentAccount.objects.all()}
    assert allowed == {
        "CRM": ["auth.crm.example", "api.crm.example"],
        "Login": ["login.example", "api.login.example"],
        "Unused": None,  # nothing to propose: only an owner may point it somewhere
    }

    columns = {e.pk: e for e in EnrichmentColumn.objects.select_related("column__table")}
    assert {e.kind for e in columns.values()} == {"http_api"}
    assert columns[people].config == {
        "request": {"endpoint": "https://api.crm.example/v1/people?e={{ row.email }}"}
    }
    assert columns[defaults].config == {"request": {"endpoint": "https://api.login.example/me"}}
    assert columns[chosen].token_fields == {
        "token_location": "data.jwt",
        "auth_header_name": "X-Session",
    }
    uses = set(ColumnAccount.objects.values_list("column_id", "account__name"))
    assert uses == {(people, "CRM"), (defaults, "Login"), (chosen, "Login")}

    # A cell's input hash is what the first schema hashed: no cell counts as changed.
    row = Row.objects.create(table_id=columns[chosen].column.table_id, position=0, values={})
    enrichment = columns[chosen]
    account = enrichment.account
    before = {
        "cells": {"email": "ada@example.test"},
        "request": {"endpoint": "{{ row.email }}"},
        "token_fields": {"token_location": "data.jwt", "auth_header_name": "X-Session"},
        "only_run_if": "",
        "account": [account.pk, account.updated_at.isoformat()],
    }
    row.values = {"email": "ada@example.test"}
    encoded = json.dumps(before, sort_keys=True, default=str).encode()
    assert input_hash(enrichment=enrichment, row=row) == hashlib.sha256(encoded).hexdigest()
