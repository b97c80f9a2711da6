"""The grid page: paging at the boundaries, sort, search, counts, edits, and its queries."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from enrich.models import ColumnKind, Row, Table
from enrich.rows import rows_insert

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def row_ids(html: bytes) -> list[int]:
    return [int(number) for number in re.findall(rb'<tr id="row-(\d+)"', html)]


def next_url(html: bytes) -> str | None:
    match = re.search(rb'class="grid__more" hx-get="([^"]+)"', html)
    return match.group(1).decode().replace("&amp;", "&") if match else None


def walk(client, table: Table, query: str = "") -> list[int]:
    """Every row id the grid shows, scrolling page by page until no "load more" is left."""
    response = client.get(reverse("table_detail", args=[table.pk]) + query)
    assert response.status_code == 200
    seen = row_ids(response.content)
    url = next_url(response.content)
    while url:
        page = client.get(url, **HTMX)
        assert page.status_code == 200
        assert b"<html" not in page.content  # only the rows partial
        seen += row_ids(page.content)
        url = next_url(page.content)
    return seen


def test_a_100k_row_table_opens_with_one_page_and_the_queries_of_a_small_one(
    client, workspace, make_table, settings
) -> None:
    settings.ENRICH_GRID_PAGE_SIZE = 100
    small = make_table(workspace, name="Small", columns=["Name", "Email", "City"], rows=10)
    large = make_table(workspace, columns=["Name", "Email", "City"], rows=100_000)
    client.get(reverse("home"))  # the session is saved once, on the first page

    with CaptureQueriesContext(connection) as small_queries:
        client.get(reverse("table_detail", args=[small.pk]))
    with CaptureQueriesContext(connection) as large_queries:
        response = client.get(reverse("table_detail", args=[large.pk]))

    # session, user, membership, workspaces menu, table, columns, count, page, imports
    assert len(large_queries) == len(small_queries) <= 9, large_queries.captured_queries
    assert response.status_code == 200
    assert len(row_ids(response.content)) == 100
    assert b"100,000 rows" in response.content
    with CaptureQueriesContext(connection) as more_queries:
        more = client.get(next_url(response.content), **HTMX)
    assert len(more_queries) <= 7  # no count and no imports for "load more"
    assert len(row_ids(more.content)) == 100
    assert set(row_ids(more.content)).isdisjoint(row_ids(response.content))


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 20, 21])
def test_scrolling_shows_every_row_once_in_order_at_page_boundaries(
    client, workspace, make_table, settings, count: int
) -> None:
    settings.ENRICH_GRID_PAGE_SIZE = 10
    table = make_table(workspace, rows=count)
    expected = list(
        Row.objects.filter(table=table).order_by("position", "pk").values_list("pk", flat=True)
    )

    assert walk(client, table) == expected


def test_keyset_paging_neither_skips_nor_repeats_when_rows_change_between_pages(
    client, workspace, make_table, settings
) -> None:
    settings.ENRICH_GRID_PAGE_SIZE = 10
    table = make_table(workspace, rows=25)
    first = client.get(reverse("table_detail", args=[table.pk]))
    shown = row_ids(first.content)
    Row.objects.filter(pk=shown[0]).delete()  # someone deletes a row already seen
    # …and rows share a position (an import and an "Add row" at the same moment).
    same_position = Row.objects.filter(table=table).order_by("position")[12]
    rows_insert(table=table, rows=[{}], start_position=same_position.position)

    url = next_url(first.content)
    while url:
        page = client.get(url, **HTMX)
        shown += row_ids(page.content)
        url = next_url(page.content)

    assert len(shown) == len(set(shown)) == 26


def test_sorting_by_a_number_column_pages_in_value_order(
    client, workspace, make_table, settings
) -> None:
    settings.ENRICH_GRID_PAGE_SIZE = 4
    table = make_table(workspace, columns=[("Score", ColumnKind.NUMBER), "Name"])
    scores = [5, -1, 100, 20, 3, 3, 42, 0, 7, 12]
    rows_insert(table=table, rows=[{"score": s, "name": f"n{s}"} for s in scores], start_position=0)
    rows_insert(table=table, rows=[{"name": "no score"}], start_position=99)
    by_id = dict(Row.objects.filter(table=table).values_list("pk", "values"))

    ascending = [by_id[pk].get("score") for pk in walk(client, table, "?sort=score")]
    descending = [by_id[pk].get("score") for pk in walk(client, table, "?sort=-score")]

    assert ascending == [*sorted(scores), None]
    assert descending == [*sorted(scores, reverse=True), None]


def test_search_matches_any_visible_column_case_insensitively_and_counts(
    client, workspace, make_table
) -> None:
    table = make_table(workspace, columns=["Name", "Email", ("Score", ColumnKind.NUMBER)])
    rows_insert(
        table=table,
        rows=[
            {"name": "Ada Lovelace", "email": "ada@example.com", "score": 1815},
            {"name": "Grace Hopper", "email": "grace@navy.mil", "score": 1906},
            {"name": "Alan", "email": "ALAN@example.com"},
        ],
        start_position=0,
    )

    response = client.get(reverse("table_detail", args=[table.pk]), {"q": "EXAMPLE"}, **HTMX)
    assert len(row_ids(response.content)) == 2
    assert b"2 rows found" in response.content
    assert b'id="grid"' in response.content and b"<html" not in response.content

    assert (
        len(row_ids(client.get(reverse("table_detail", args=[table.pk]), {"q": "1906"}).content))
        == 1
    )
    assert (
        b"No row contains"
        in client.get(reverse("table_detail", args=[table.pk]), {"q": "zzz"}).content
    )


def test_hidden_columns_are_not_shown_and_listed_to_show_again(
    client, workspace, make_table
) -> None:
    table = make_table(
        workspace, columns=["Name", "Secret"], rows=[{"name": "Ada", "secret": "s3cr3t"}]
    )
    secret = table.columns.get(key="secret")
    client.post(reverse("column_hide", args=[secret.pk]), {"hidden": "1"})

    page = client.get(reverse("table_detail", args=[table.pk]))
    assert b"s3cr3t" not in page.content
    assert "Show “Secret”".encode() in page.content


def test_editing_a_cell_answers_with_the_cell_and_errors_stay_in_it(
    client, workspace, make_table
) -> None:
    table = make_table(workspace, columns=[("Score", ColumnKind.NUMBER)])
    rows_insert(table=table, rows=[{"score": 7}], start_position=0)
    row, column = Row.objects.get(table=table), table.columns.get()
    url = reverse("cell_update", args=[row.pk, column.pk])

    ok = client.post(url, {"value": "42"}, **HTMX)
    assert ok.status_code == 200
    assert ok.content.startswith(b'<td class="cell cell--number"') and b">42<" in ok.content

    refused = client.post(url, {"value": "forty"}, **HTMX)
    assert refused.status_code == 200
    assert b"cell--error" in refused.content and b"is not a number" in refused.content
    assert b">42<" in refused.content
    assert Row.objects.get(pk=row.pk).values == {"score": 42}

    without_htmx = client.post(url, {"value": "forty"}, follow=True)
    assert without_htmx.status_code == 200
    assert "Score: “forty” is not a number".encode() in without_htmx.content


def test_column_and_row_actions_answer_htmx_with_the_grid_and_messages(
    client, workspace, make_table
) -> None:
    table = make_table(workspace, columns=["Name"], rows=3)
    name = table.columns.get()

    added = client.post(
        reverse("column_add", args=[table.pk]), {"label": "Score", "kind": "number"}, **HTMX
    )
    assert added.status_code == 200 and added["HX-Retarget"] == "#grid"
    assert "Column “Score” added (key score)".encode() in added.content

    empty = client.post(
        reverse("column_add", args=[table.pk]), {"label": "  ", "kind": "text"}, **HTMX
    )
    assert empty.status_code == 200 and b"Give the column a name." in empty.content

    wrong_kind = client.post(reverse("column_kind", args=[name.pk]), {"kind": "nope"}, **HTMX)
    assert (
        wrong_kind.status_code == 200 and b"not one of the available choices" in wrong_kind.content
    )

    retyped = client.post(reverse("column_kind", args=[name.pk]), {"kind": "number"}, **HTMX)
    assert b"3 did not fit and were kept" in retyped.content
    assert table.columns.get(pk=name.pk).kind == "number"

    row_add = client.post(reverse("row_add", args=[table.pk]), {"q": "", "sort": ""}, **HTMX)
    assert row_add.status_code == 200 and b"data-tail" in row_add.content
    assert Row.objects.filter(table=table).count() == 4
    assert b'<span class="grid-count" aria-live="polite">4 rows</span>' in row_add.content

    ids = [str(pk) for pk in Row.objects.filter(table=table).values_list("pk", flat=True)[:2]]
    deleted = client.post(reverse("rows_delete", args=[table.pk]), {"rows": ids}, **HTMX)
    assert b"2 rows deleted." in deleted.content
    nothing = client.post(reverse("rows_delete", args=[table.pk]), {}, **HTMX)
    assert b"Tick the rows to delete first." in nothing.content

    client.post(reverse("columns_reorder", args=[table.pk]), {"keys": "score,name"}, **HTMX)
    assert list(table.columns.order_by("position").values_list("key", flat=True)) == [
        "score",
        "name",
    ]

    deleted_column = client.post(reverse("column_delete", args=[name.pk]), **HTMX)
    assert deleted_column.status_code == 200
    assert list(table.columns.values_list("key", flat=True)) == ["score"]


def test_tables_are_renamed_duplicated_with_or_without_rows_and_deleted_after_confirming(
    client, workspace, make_table
) -> None:
    table = make_table(workspace, columns=["Name", "Email"], rows=5)
    client.post(reverse("column_hide", args=[table.columns.get(key="email").pk]), {"hidden": "1"})

    client.post(reverse("table_rename", args=[table.pk]), {"name": "  Prospects "})
    assert Table.objects.get(pk=table.pk).name == "Prospects"
    assert (
        b"Give the table a name."
        in client.post(reverse("table_rename", args=[table.pk]), {"name": " "}, follow=True).content
    )

    full = client.post(
        reverse("table_duplicate", args=[table.pk]), {"name": "Copy", "with_rows": "on"}
    )
    structure = client.post(reverse("table_duplicate", args=[table.pk]), {"name": "Empty copy"})
    full_copy, empty_copy = Table.objects.get(name="Copy"), Table.objects.get(name="Empty copy")
    assert full.status_code == structure.status_code == 302
    assert [(c.key, c.hidden) for c in full_copy.columns.order_by("position")] == [
        ("name", False),
        ("email", True),
    ]
    assert sorted(r.values["name"] for r in full_copy.rows.all()) == sorted(
        r.values["name"] for r in table.rows.all()
    )
    assert empty_copy.columns.count() == 2 and empty_copy.rows.count() == 0

    confirm = client.get(reverse("table_delete", args=[table.pk]))
    assert b"5 rows" in confirm.content and Table.objects.filter(pk=table.pk).exists()
    client.post(reverse("table_delete", args=[table.pk]))
    assert not Table.objects.filter(pk=table.pk).exists()
    assert full_copy.rows.count() == 5


def test_pages_have_a_favicon(client, workspace, make_table) -> None:
    from django.contrib.staticfiles import finders

    table = make_table(workspace, columns=["Name"], rows=1)

    html = client.get(reverse("table_detail", args=[table.pk])).content.decode()

    icon = re.search(r'<link rel="icon" href="/static/([^"]+)"', html)
    assert icon and finders.find(icon[1])
