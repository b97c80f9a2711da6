"""Enrichment columns in the grid and the CSV export: status and value per cell, a result
field read through its path, live cells on the progress poll, a column that keeps its type."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from enrich.enrichment.columns import result_field_add
from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.pipeline import enrich_cell
from enrich.enrichment.runs import run_plan
from enrich.models import Column, Row
from tests.servers import Reply, json_reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile(leads, api, make_enrichment):
    """An enrichment run over every lead: rows 0-2 answer, row 3 gets a 500, the rest wait."""

    def answer(request):
        n = int(request.query["n"][0])
        if n == 3:
            return Reply(status=500, body=b"upstream broke")
        return json_reply({"person": {"name": f"Lead {n}", "tags": ["a", "b"]}})(request)

    api.route("/", answer)
    enrichment = make_enrichment(
        leads, request={"endpoint": api.url("/?n={{ row.n }}"), "retry": {"attempts": 1}}
    )
    run = Run.objects.create(column=enrichment)
    run_plan(run_id=run.pk)
    for row in Row.objects.filter(table=leads).order_by("position")[:4]:
        enrich_cell(run_id=run.pk, row_id=row.pk)
    return enrichment


def grid_cells(client, table, column) -> list[str]:
    page = client.get(reverse("table_detail", args=[table.pk]), HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    html = page.content.decode()
    marker = f'data-column="{column.pk}"'
    cells = []
    for part in html.split("<td ")[1:]:
        if marker in part.split(">", 1)[0]:
            cells.append(part)
    return cells


def test_the_grid_shows_each_cell_status_and_value(client, leads, profile) -> None:
    cells = grid_cells(client, leads, profile.column)

    assert len(cells) == 10
    assert "status-icon--done" in cells[0] and "Lead 0" in cells[0]
    assert 'data-detail="/cells/' in cells[0] and "data-readonly" in cells[0]
    assert "status-icon--error" in cells[3] and "answered 500" in cells[3]  # the error, as a title
    assert "status-icon--pending" in cells[4] and "Queued" in cells[4]


def test_a_result_field_column_shows_its_path_as_plain_text(client, leads, profile) -> None:
    field = result_field_add(source=profile, path="person.name", label="Name")

    cells = grid_cells(client, leads, field.column)

    assert ">Lead 1</td>" in cells[1]  # a text answer without JSON quotes
    assert 'data-detail="/cells/' in cells[1]  # opens the source column's details
    assert "status-icon--error" in cells[3]


def test_the_page_reads_all_results_in_one_query(client, leads, profile) -> None:
    result_field_add(source=profile, path="person.name")
    result_field_add(source=profile, path="person.tags.0")
    url = reverse("table_detail", args=[leads.pk])
    client.get(url, HTTP_HX_REQUEST="true")  # warm the session and caches

    with CaptureQueriesContext(connection) as queries:
        client.get(url, HTTP_HX_REQUEST="true")

    results = [q for q in queries.captured_queries if "enrichment_cellresult" in q["sql"]]
    # One for the page's cells, plus the progress bar's counts of the active run.
    assert len([q for q in results if "GROUP BY" not in q["sql"]]) <= 2


def test_the_progress_poll_sends_back_the_visible_cells_that_changed(
    client, leads, profile
) -> None:
    rows = list(Row.objects.filter(table=leads).order_by("position"))
    since = timezone.now() - timedelta(seconds=5)
    long_ago = since - timedelta(minutes=2)
    CellResult.objects.filter(column=profile).update(
        queued_at=long_ago, started_at=long_ago, finished_at=long_ago
    )
    enrich_cell(run_id=profile.runs.get().pk, row_id=rows[5].pk)  # finishes after ``since``

    response = client.get(
        reverse("enrichment_progress", args=[profile.pk]),
        {"since": since.isoformat(), "rows": f"{rows[0].pk},{rows[5].pk},{rows[6].pk}"},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="run-progress' in html
    assert f'id="cell-{rows[5].pk}-{profile.pk}" hx-swap-oob="true"' in html
    assert "Lead 5" in html
    assert f"cell-{rows[0].pk}-" not in html  # unchanged since the last poll


def test_a_bad_since_is_ignored_not_a_server_error(client, profile) -> None:
    response = client.get(
        reverse("enrichment_progress", args=[profile.pk]),
        {"since": "2026-13-45T99:00:00", "rows": "1,2"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200


def test_the_export_writes_results_and_fields(client, leads, profile) -> None:
    result_field_add(source=profile, path="person.name", label="Name")

    response = client.get(reverse("table_export", args=[leads.pk]))

    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, first, fourth, fifth = lines[0], lines[1], lines[4], lines[5]
    assert header == ["Email", "Country", "N", "Profile", "Name"]
    assert first[3] == '{"person":{"name":"Lead 0","tags":["a","b"]}}'
    assert first[4] == "Lead 0"
    assert fourth[3:] == ["", ""]  # an error has no value to export
    assert fifth[3:] == ["", ""]  # nor has a cell still queued


def test_an_enrichment_column_keeps_its_type(client, leads, profile) -> None:
    response = client.post(reverse("column_kind", args=[profile.pk]), {"kind": "text"})

    assert response.status_code == 302
    assert Column.objects.get(pk=profile.pk).kind == "enrichment"


def test_deleting_an_enrichment_column_deletes_its_field_columns(client, leads, profile) -> None:
    field = result_field_add(source=profile, path="person.name")

    client.post(reverse("column_delete", args=[profile.pk]))

    assert not Column.objects.filter(pk__in=[profile.pk, field.column_id]).exists()
    assert not CellResult.objects.filter(column_id=profile.pk).exists()


def test_a_duplicated_table_keeps_its_enrichment_columns_without_their_results(
    leads, profile
) -> None:
    from enrich.enrichment.models import EnrichmentColumn, ResultField
    from enrich.tables import table_duplicate

    result_field_add(source=profile, path="person.name", label="Name")

    copy = table_duplicate(table=leads, name="Leads copy", with_rows=True, created_by=None)

    copied = EnrichmentColumn.objects.get(column__table=copy)
    assert copied.request == profile.request
    assert copied.column.key == profile.column.key
    field = ResultField.objects.get(column__table=copy)
    assert (field.source_id, field.path) == (copied.pk, "person.name")
    assert not CellResult.objects.filter(row__table=copy).exists()


def test_the_json_tree_counts_in_words() -> None:
    from enrich.enrichment.templatetags.enrichment import json_tree

    html = str(json_tree({"person": {"name": "Ada"}, "tags": ["a", "b"]}, "/fields/"))

    assert "{2 keys}" in html and "{1 key}" in html and "[2 items]" in html
