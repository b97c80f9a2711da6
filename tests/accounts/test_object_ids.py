"""Ids beyond 64 bits, in a URL or a form field, are a 404 or a 400, never a server error."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

from accounts.connection_accounts import account_create
from accounts.object_ids import MAX_ID, ObjectIdConverter, parse_id, parse_ids
from enrich.columns import column_add
from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
from enrich.rows import row_add
from enrich.tables import table_create

#: One past the largest key (19 digits, like a real id) and a 20-digit number.
TOO_BIG = [str(MAX_ID + 1), str(2**64), "9" * 30]


def test_an_id_is_ascii_digits_within_64_bits() -> None:
    assert parse_id("42") == 42
    assert parse_id(" 42 ") == 42
    assert parse_id(str(MAX_ID)) == MAX_ID
    assert parse_id(7) == 7
    for refused in [*TOO_BIG, "0", "-1", "²", "٣", "1e3", "0x10", "", "12a", None, 1.5, [1]]:
        assert parse_id(refused) is None, refused
    assert parse_ids(["3", str(2**64), "x", "5"]) == [3, 5]


def every_pattern_with_converters() -> list[tuple[str, URLPattern]]:
    """(route, pattern) of every URL that takes a value in its path (the admin's are Django's)."""
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name != "admin":
                    walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and pattern.pattern.converters:
                found.append((prefix + str(pattern.pattern), pattern))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_object_id_in_a_url_is_read_by_the_id_converter() -> None:
    for route, pattern in every_pattern_with_converters():
        for converter in pattern.pattern.converters.values():
            assert not isinstance(converter, IntConverter), (route, "write <id:...>, not <int:...>")


@pytest.mark.django_db
@pytest.mark.parametrize("huge", TOO_BIG)
def test_every_url_with_a_huge_id_is_a_404(owner_client, huge) -> None:
    client, _ = owner_client
    patterns = [
        (route, pattern)
        for route, pattern in every_pattern_with_converters()
        if any(isinstance(c, ObjectIdConverter) for c in pattern.pattern.converters.values())
    ]
    assert len(patterns) > 30
    for route, pattern in patterns:
        url = "/" + route
        for name, converter in pattern.pattern.converters.items():
            kind = "id" if isinstance(converter, ObjectIdConverter) else "uuid"
            url = url.replace(f"<{kind}:{name}>", huge if kind == "id" else str(uuid.uuid4()))
        assert "<" not in url, url
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"rows": huge, "row": huge})
            assert response.status_code == 404, (route, method, response.status_code)
            response = getattr(client, method)(url, HTTP_HX_REQUEST="true")
            assert response.status_code == 404, (route, method, "htmx", response.status_code)


@pytest.fixture
def objects(owner_client):
    client, workspace = owner_client
    table = table_create(workspace=workspace, name="Leads", created_by=None)
    email = column_add(table=table, label="Email")
    row = row_add(table=table, values={email.key: "ada@example.test"})
    enrichment = enrichment_column_create(
        table=table,
        label="Profile",
        spec=EnrichmentSpec(request={"endpoint": "http://127.0.0.1:9/{{ row.email }}"}),
    )
    account_create(
        workspace=workspace,
        name="Key",
        auth_type="api_key",
        fields={"key": "X-Key", "value": "k-123456789"},
    )
    return client, table, row, enrichment


@pytest.mark.django_db
@pytest.mark.parametrize("huge", TOO_BIG)
def test_huge_ids_in_form_fields_and_query_strings_are_refused(objects, huge) -> None:
    client, table, row, enrichment = objects
    grid = reverse("table_detail", args=[table.pk])

    response = client.post(reverse("rows_delete", args=[table.pk]), {"rows": [str(row.pk), huge]})
    assert response.status_code in {200, 302}
    assert table.rows.filter(pk=row.pk).exists(), "an invalid list deletes nothing"
    assert client.get(grid).status_code == 200

    response = client.post(reverse("enrichment_test", args=[enrichment.pk]), {"row": huge})
    assert response.status_code == 404

    response = client.post(
        reverse("enrichment_run", args=[enrichment.pk]), {"scope": "rows", "rows": huge}
    )
    assert response.status_code == 302
    assert not enrichment.runs.exists()

    progress = reverse("enrichment_progress", args=[enrichment.pk])
    response = client.get(progress, {"rows": f"{row.pk},{huge}", "since": "2020-01-01T00:00Z"})
    assert response.status_code == 200

    response = client.post(
        reverse("enrichment_edit", args=[enrichment.pk]),
        {"label": "Profile", "account": huge, "method": "GET", "endpoint": "http://127.0.0.1:9/"},
    )
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content

    for cursor in (f"k{huge}.{huge}", f"k0.{huge}", f"k-{huge}.1", f"o{huge}"):
        response = client.get(grid, {"after": cursor, "sort": "-" + row.table.columns.first().key})
        assert response.status_code == 200, cursor
        response = client.get(grid, {"after": cursor})
        assert response.status_code == 200, cursor

    response = client.post(reverse("cell_update", args=[row.pk, enrichment.column.pk]))
    assert response.status_code in {200, 302, 404}


def test_management_commands_read_a_huge_id_as_a_name(db, owner_client) -> None:
    from django.core.management.base import CommandError

    from accounts.management.workspace_lookup import workspace_named

    with pytest.raises(CommandError, match="No workspace"):
        workspace_named(str(2**64))
