"""Whatever an account holds, Test connection and a cell end with a verdict, never a crash.

Every field of every registered auth type is given odd values (wrong types, out-of-range
numbers, header-breaking text, JOSE headers that only fail when a JWT is signed). A value the
type cannot use must be refused when the account is saved, with a message; a value it accepts
must then be usable: "Test connection" and a cell on a row answer with a result or a clear
error, and no exception escapes.
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.connection_accounts import account_create
from accounts.connections import account_test
from accounts.exceptions import InvalidAccountConfig
from accounts.models import Account
from connectors import auth_types
from enrich.columns import column_add
from enrich.enrichment import pipeline
from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
from enrich.rows import row_add
from enrich.tables import table_create

pytestmark = pytest.mark.django_db

ODD_VALUES: list[Any] = [
    None,
    "",
    " ",
    "\x00",
    "a\r\nX-Injected: 1",
    "ü€ 漢字",
    "{{",
    "{{ 1/0 }}",
    "{{ row.nope }}",
    "{{ get_secret('NOPE') }}",
    "x" * 5000,
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    "none",
    "*",
    "http://",
    "http://[::1",
    "ftp://127.0.0.1/",
    -1,
    0,
    10**30,
    1.5,
    float("nan"),
    True,
    [],
    [0],
    [599, 600, "x"],
    ["", "a b", "*"],
    {},
    {"kid": 5},
    {"kid": None},
    {"alg": "none"},
    {"alg": "HS256"},
    {"b64": False},
    {"crit": ["b64"]},
    {"typ": 5, "cty": []},
    {"x5c": "not-a-list"},
    {"": "x"},
    {"X-Head": "a\r\nb"},
    {"X-Head": "ü"},
    {"X-Head": 5},
    {"exp": "soon", "iat": [], "nbf": {}},
    {"sub": "{{ 1/0 }}"},
    {"nested": {"deeper": [1, {"x": None}]}},
]


def field_keys(auth_type: str) -> list[str]:
    """The document keys of the type's fields (an alias such as ``in`` where there is one)."""
    model = auth_types.get(auth_type).config_model
    return [info.alias or name for name, info in model.model_fields.items() if name != "type"]


@pytest.fixture
def table_row(owner_client):
    _, workspace = owner_client
    table = table_create(workspace=workspace, name="Leads", created_by=None)
    email = column_add(table=table, label="Email")
    row = row_add(table=table, values={email.key: "ada@example.test"})
    return workspace, table, row


def test_no_account_value_makes_a_test_or_a_cell_raise(table_row, authority) -> None:
    workspace, table, row = table_row
    documents = authority.every_type()
    assert set(documents) == set(auth_types.names()), "every registered type is fuzzed"
    accepted = refused = 0
    crashes: list[str] = []
    for auth_type, document in documents.items():
        for key in field_keys(auth_type):
            for number, odd in enumerate(ODD_VALUES):
                fields = {k: v for k, v in document.items() if k != "type"} | {key: odd}
                name = f"{auth_type} {key} {number}"
                try:
                    account = account_create(
                        workspace=workspace,
                        name=name[:100],
                        auth_type=auth_type,
                        fields=fields,
                        test_url=authority.url("/api/me"),
                    ).account
                except InvalidAccountConfig as refusal:
                    refused += 1
                    assert refusal.field_errors, name
                    assert all(m.strip() for ms in refusal.field_errors.values() for m in ms)
                    continue
                accepted += 1
                try:
                    use(account, table, row, authority, name)
                except Exception as exc:
                    crashes.append(f"{name} ({odd!r:.40}): {type(exc).__name__}: {exc}")
    assert crashes == [], "\n".join(crashes)
    assert accepted > 50 and refused > 200, (accepted, refused)


def use(account, table, row, authority, name: str) -> None:
    """Test connection, then a cell with the account: each ends in a verdict with a message."""
    tested = account_test(account=account)
    assert tested.message.strip(), name
    enrichment = enrichment_column_create(
        table=table,
        label=name[:100],
        spec=EnrichmentSpec(
            request={"endpoint": authority.url("/api/me"), "retry": {"attempts": 1}},
            account=account,
        ),
    )
    outcome = pipeline.execute(enrichment=enrichment, row=row)
    assert outcome.status in {"done", "error"}, name
    assert outcome.status == "done" or outcome.error.strip(), name


def test_an_account_saved_before_the_checks_fails_its_test_and_cells_clearly(
    table_row, authority
) -> None:
    """Headers stored by an older version (no check then) end in a message, not a crash."""
    workspace, table, row = table_row
    document = authority.every_type()["jwt"]
    account = account_create(
        workspace=workspace,
        name="old",
        auth_type="jwt",
        fields={k: v for k, v in document.items() if k != "type"},
        test_url=authority.url("/api/open"),
    ).account
    Account.objects.filter(pk=account.pk).update(
        config={**account.config, "jwt_headers": {"kid": 5, "alg": "none"}}
    )
    account.refresh_from_db()

    tested = account_test(account=account)
    assert not tested.ok
    assert "JWT header" in tested.message
    enrichment = enrichment_column_create(
        table=table,
        label="Old",
        spec=EnrichmentSpec(request={"endpoint": authority.url("/api/open")}, account=account),
    )
    outcome = pipeline.execute(enrichment=enrichment, row=row)
    assert outcome.status == "error"
    assert "JWT header" in outcome.error
