"""Kept field paths keep the answer's shape, so the JSON tree, "+ column" and the export all
read one shape; results stored in the older flat shape still show and feed their columns."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from enrich.enrichment.models import CellResult, ResultField, Run
from enrich.enrichment.pipeline import enrich_cell
from enrich.enrichment.runs import run_plan
from enrich.models import Row
from tests.servers import Reply

pytestmark = pytest.mark.django_db


def echo(request) -> Reply:
    """Answers with the query it was sent, a list of items and a header map."""
    email = request.query.get("email", [""])[-1]
    return Reply.json(
        {
            "query": {"email": email, "page": "1"},
            "headers": {"x-seen": "yes"},
            "items": [{"id": f"first-{email}"}, {"id": "second"}],
            "noise": "x" * 1000,
        }
    )


@pytest.fixture
def echoed(leads, api, make_enrichment):
    api.route("/", echo)
    enrichment = make_enrichment(
        leads,
        label="Echo",
        request={
            "endpoint": api.url("/"),
            "query": {"email": "{{ row.email }}"},
            "field_paths": "query.email, headers, items.0.id",
        },
    )
    run = Run.objects.create(column=enrichment)
    run_plan(run_id=run.pk)
    for row in Row.objects.filter(table=leads):
        enrich_cell(run_id=run.pk, row_id=row.pk)
    return enrichment


def exported(client, table) -> list[list[str]]:
    response = client.get(reverse("table_export", args=[table.pk]))
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_kept_fields_keep_their_nesting_with_list_indices(leads, echoed) -> None:
    row = Row.objects.filter(table=leads).order_by("position").first()
    cell = CellResult.objects.get(row=row, column=echoed)
    assert cell.status == "done", cell.error
    assert cell.value == {
        "query": {"email": "lead0@example.test"},
        "headers": {"x-seen": "yes"},
        "items": [{"id": "first-lead0@example.test"}],
    }


def test_add_column_from_the_tree_shows_values_in_the_grid_and_the_export(
    client, leads, echoed
) -> None:
    row = Row.objects.filter(table=leads).order_by("position").first()
    panel = client.get(reverse("cell_detail", args=[row.pk, echoed.pk]), HTTP_HX_REQUEST="true")
    assert panel.status_code == 200
    # The tree offers "+ column" on the nested paths themselves.
    assert "query.email" in panel.content.decode()
    assert "items.0.id" in panel.content.decode()

    for path in ("query.email", "items.0.id"):
        response = client.post(
            reverse("result_field_create", args=[echoed.pk]), {"path": path}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code in (200, 204, 302)
    fields = {field.path: field for field in ResultField.objects.filter(source=echoed)}
    assert set(fields) == {"query.email", "items.0.id"}

    grid = client.get(reverse("table_detail", args=[leads.pk]), HTTP_HX_REQUEST="true")
    assert "lead3@example.test" in grid.content.decode()
    assert "first-lead3@example.test" in grid.content.decode()

    lines = exported(client, leads)
    header = lines[0]
    email_at = header.index(fields["query.email"].column.label)
    item_at = header.index(fields["items.0.id"].column.label)
    assert [line[email_at] for line in lines[1:]] == [f"lead{n}@example.test" for n in range(10)]
    assert lines[1][item_at] == "first-lead0@example.test"


def test_results_stored_flat_still_show_and_feed_their_field_columns(client, leads, echoed) -> None:
    # The shape results were kept in before: one flat key per dotted path.
    CellResult.objects.filter(column=echoed).update(
        value={"query.email": "old@example.test", "headers": {"x-seen": "old"}}
    )
    client.post(reverse("result_field_create", args=[echoed.pk]), {"path": "query.email"})
    client.post(reverse("result_field_create", args=[echoed.pk]), {"path": "headers.x-seen"})

    lines = exported(client, leads)
    header = lines[0]
    email_at = header.index("Echo · query.email")
    seen_at = header.index("Echo · headers.x-seen")
    assert {line[email_at] for line in lines[1:]} == {"old@example.test"}
    assert {line[seen_at] for line in lines[1:]} == {"old"}

    row = Row.objects.filter(table=leads).order_by("position").first()
    panel = client.get(reverse("cell_detail", args=[row.pk, echoed.pk]), HTTP_HX_REQUEST="true")
    assert "old@example.test" in panel.content.decode()


def test_templates_and_conditions_read_a_field_column_as_its_value(
    client, leads, echoed, api, make_enrichment
) -> None:
    client.post(reverse("result_field_create", args=[echoed.pk]), {"path": "items.0.id"})
    key = ResultField.objects.get(source=echoed, path="items.0.id").column.key
    # Only the first row's item id names lead 0: the others are skipped, not sent as blanks.
    follow = make_enrichment(
        leads,
        label="Follow",
        request={"endpoint": api.url("/"), "query": {"email": "{{ row." + key + " }}"}},
        only_run_if=f'row.{key} == "first-lead0@example.test"',
    )
    run = Run.objects.create(column=follow)
    run_plan(run_id=run.pk)
    for row in Row.objects.filter(table=leads):
        enrich_cell(run_id=run.pk, row_id=row.pk)

    cells = {
        cell.row.values["email"]: cell
        for cell in CellResult.objects.filter(column=follow).select_related("row")
    }
    first = cells.pop("lead0@example.test")
    assert first.status == "done", first.error
    assert first.value["query"]["email"] == "first-lead0@example.test"
    assert {cell.status for cell in cells.values()} == {"skipped"}
