"""A member of workspace A gets 404 for every URL of workspace B's objects."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.connection_accounts import account_create
from accounts.models import Account, Invitation, Secret
from accounts.workspace_secrets import secret_create, secret_value
from enrich.columns import column_add
from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
from enrich.enrichment.models import Run
from enrich.models import Column, ImportJob, Row, Table
from enrich.rows import row_add
from enrich.tables import table_create
from tests.conftest import member_of

pytestmark = pytest.mark.django_db


def url_names_with_object_ids() -> set[str]:
    """Every named URL that takes an object id, so a new one cannot be forgotten here."""
    names: set[str] = set()

    def walk(patterns) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name != "admin":
                    walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name and pattern.pattern.converters:
                names.add(pattern.name)

    walk(get_resolver().url_patterns)
    return names


@pytest.fixture
def two_workspaces(make_workspace, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    a, b = make_workspace("A", owner=alice), make_workspace("B", owner=bob)
    b_member = member_of(b, make_user("bmember"))
    b_table = table_create(workspace=b, name="B's leads", created_by=bob)
    b_column = column_add(table=b_table, label="Email")
    b_row = row_add(table=b_table, values={b_column.key: "ceo@b.example"})
    b_job = ImportJob.objects.create(
        table=b_table, original_name="b.csv", status=ImportJob.Status.MAPPING, headers=["Email"]
    )
    b_enrichment = enrichment_column_create(
        table=b_table,
        label="Profile",
        spec=EnrichmentSpec(request={"endpoint": "https://api.example.test/{{ row.email }}"}),
    )
    b_run = Run.objects.create(column=b_enrichment)
    b_account = account_create(
        workspace=b,
        name="B's key",
        auth_type="jwt",
        fields={"algorithm": "ES256"},
        generate_key="ES256",
    ).account
    b_secret = secret_create(workspace=b, name="B_TOKEN", value="b-token-value", created_by=bob)
    b_invitation = Invitation.objects.create(workspace=b, invited_as="carol", invited_by=bob)
    client = Client()
    client.force_login(alice)
    return (
        client,
        a,
        b,
        {
            "table": b_table,
            "membership": b_member,
            "column": b_column,
            "row": b_row,
            "import": b_job,
            "enrichment": b_enrichment,
            "run": b_run,
            "account": b_account,
            "secret": b_secret,
            "invitation": b_invitation,
        },
    )


#: Public by design, never workspace-scoped: tested on their own below.
PUBLIC_URLS = {"account_jwks"}


def b_urls(b, objects) -> dict[str, tuple[str, str]]:
    """url name → (method, URL of one of B's objects)."""
    table, column, row = objects["table"].pk, objects["column"].pk, objects["row"].pk
    enrichment = objects["enrichment"].pk
    account, secret = objects["account"].pk, objects["secret"].pk
    invitation = objects["invitation"].pk
    return {
        "table_detail": ("get", reverse("table_detail", args=[table])),
        "table_rename": ("post", reverse("table_rename", args=[table])),
        "table_duplicate": ("post", reverse("table_duplicate", args=[table])),
        "table_delete": ("post", reverse("table_delete", args=[table])),
        "table_export": ("get", reverse("table_export", args=[table])),
        "import_into_table": ("post", reverse("import_into_table", args=[table])),
        "import_detail": ("post", reverse("import_detail", args=[objects["import"].pk])),
        "column_add": ("post", reverse("column_add", args=[table])),
        "columns_reorder": ("post", reverse("columns_reorder", args=[table])),
        "row_add": ("post", reverse("row_add", args=[table])),
        "rows_delete": ("post", reverse("rows_delete", args=[table])),
        "cells_paste": ("post", reverse("cells_paste", args=[table])),
        "cells_clear": ("post", reverse("cells_clear", args=[table])),
        "cells_fill": ("post", reverse("cells_fill", args=[table])),
        "action_undo": ("post", reverse("action_undo", args=[table])),
        "action_redo": ("post", reverse("action_redo", args=[table])),
        "column_rename": ("post", reverse("column_rename", args=[column])),
        "column_kind": ("post", reverse("column_kind", args=[column])),
        "column_move": ("post", reverse("column_move", args=[column])),
        "column_hide": ("post", reverse("column_hide", args=[column])),
        "column_delete": ("post", reverse("column_delete", args=[column])),
        "cell_update": ("post", reverse("cell_update", args=[row, column])),
        "enrichment_create": ("post", reverse("enrichment_create", args=[table])),
        "formula_create": ("post", reverse("formula_create", args=[table])),
        "formula_preview": ("post", reverse("formula_preview", args=[table])),
        "waterfall_create": ("post", reverse("waterfall_create", args=[table])),
        "table_auto_update": ("post", reverse("table_auto_update", args=[table])),
        "enrichment_edit": ("post", reverse("enrichment_edit", args=[enrichment])),
        "enrichment_test": ("post", reverse("enrichment_test", args=[enrichment])),
        "enrichment_run": ("post", reverse("enrichment_run", args=[enrichment])),
        "enrichment_run_confirm": ("get", reverse("enrichment_run_confirm", args=[enrichment])),
        "enrichment_test_rows": ("get", reverse("enrichment_test_rows", args=[enrichment])),
        "enrichment_progress": ("get", reverse("enrichment_progress", args=[enrichment])),
        "result_field_create": ("post", reverse("result_field_create", args=[enrichment])),
        "run_cancel": ("post", reverse("run_cancel", args=[objects["run"].pk])),
        "cell_detail": ("get", reverse("cell_detail", args=[row, enrichment])),
        "workspace_switch": ("post", reverse("workspace_switch", args=[b.pk])),
        "member_remove": ("post", reverse("member_remove", args=[objects["membership"].pk])),
        "member_role": ("post", reverse("member_role", args=[objects["membership"].pk])),
        # An invitation of B's to someone else: neither A's owner nor anyone but its invitee.
        "invitation_revoke": ("post", reverse("invitation_revoke", args=[invitation])),
        "invitation_accept": ("post", reverse("invitation_accept", args=[invitation])),
        "invitation_decline": ("post", reverse("invitation_decline", args=[invitation])),
        "account_detail": ("post", reverse("account_detail", args=[account])),
        "account_test": ("post", reverse("account_test", args=[account])),
        "account_key_pair": ("post", reverse("account_key_pair", args=[account])),
        "account_delete": ("post", reverse("account_delete", args=[account])),
        "account_columns_rerun": ("post", reverse("account_columns_rerun", args=[account])),
        "secret_replace": ("post", reverse("secret_replace", args=[secret])),
        "secret_delete": ("post", reverse("secret_delete", args=[secret])),
    }


def test_every_url_of_another_workspace_is_a_404(two_workspaces) -> None:
    client, a, b, objects = two_workspaces
    urls = b_urls(b, objects)
    assert set(urls) | PUBLIC_URLS == url_names_with_object_ids(), "add the new URL to this test"

    # Valid input for every form, so only the workspace check can refuse it.
    data = {
        "role": "owner",
        "name": "Taken over",
        "with_rows": "on",
        "label": "Taken",
        "kind": "number",
        "offset": "1",
        "hidden": "1",
        "keys": objects["column"].key,
        "rows": str(objects["row"].pk),
        "value": "attacker@a.example",
        "h0": objects["column"].key,
        "algorithm": "RS256",
        "test_url": "http://127.0.0.1:9/",
    }
    for name, (method, url) in urls.items():
        response = getattr(client, method)(url, data if method == "post" else None)
        assert response.status_code == 404, (name, response.status_code)
        response = client.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code in {404, 405}, (name, "htmx", response.status_code)

    # Nothing changed in B, and A is still the current workspace.
    assert b.memberships.count() == 2
    assert Table.objects.filter(workspace=b).count() == 1
    assert Table.objects.get(workspace=b).name == "B's leads"
    assert list(Column.objects.filter(table__workspace=b).values_list("label", "kind")) == [
        ("Email", "text"),
        ("Profile", "enrichment"),
    ]
    assert not Run.objects.exclude(pk=objects["run"].pk).exists()
    assert Run.objects.get().status == Run.Status.PLANNING
    assert Row.objects.get(table__workspace=b).values == {objects["column"].key: "ceo@b.example"}
    assert ImportJob.objects.get(table__workspace=b).status == ImportJob.Status.MAPPING
    assert client.get(reverse("home")).context["workspace"] == a
    b_account = Account.objects.get(workspace=b)
    assert b_account.name == "B's key" and b_account.config["algorithm"] == "ES256"
    assert b_account.last_test_status == Account.TestStatus.UNTESTED
    assert secret_value(workspace_id=b.pk, name="B_TOKEN") == "b-token-value"
    assert Secret.objects.filter(workspace=b).count() == 1
    assert Invitation.objects.get(workspace=b).status == Invitation.Status.PENDING


def test_another_workspaces_accounts_and_secrets_are_not_listed(two_workspaces) -> None:
    client, _, _, objects = two_workspaces
    for name in ("account_list", "secret_list"):
        page = client.get(reverse(name)).content.decode()
        assert objects["account"].name not in page.replace("&#x27;", "'")
        assert "B_TOKEN" not in page


def test_the_public_jwks_of_b_serves_its_public_key_only(two_workspaces) -> None:
    client, _, _, objects = two_workspaces
    account = objects["account"]
    response = client.get(reverse("account_jwks", kwargs={"public_id": account.public_id}))
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "crv", "x", "y", "alg", "use", "kid"}


def test_another_workspaces_tables_are_not_listed(two_workspaces) -> None:
    client, _, _, objects = two_workspaces
    page = client.get(reverse("home"))
    assert objects["table"].name.encode() not in page.content
    assert b"No tables yet" in page.content


def test_a_forged_session_workspace_falls_back_to_the_users_own(two_workspaces) -> None:
    client, a, b, _ = two_workspaces
    session = client.session
    session["workspace_id"] = b.pk
    session.save()
    assert client.get(reverse("home")).context["workspace"] == a
