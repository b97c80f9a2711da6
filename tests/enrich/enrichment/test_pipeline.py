"""The life of one cell, called directly: the guarded claim and write, the condition, errors.

These run the pipeline in the test process (no worker) against real local APIs; the worker
tests prove the same code across the broker.
"""

from __future__ import annotations

import pytest

from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.pipeline import MAX_DELIVERIES, enrich_cell, execute
from enrich.enrichment.runs import _mark_queued
from enrich.models import Row
from tests.servers import Reply, json_reply

pytestmark = pytest.mark.django_db


def queued_run(enrichment, rows) -> Run:
    run = Run.objects.create(column=enrichment, status=Run.Status.RUNNING, total=len(rows))
    _mark_queued(run=run, row_ids=[row.pk for row in rows])
    return run


def first_row(table) -> Row:
    return Row.objects.filter(table=table).order_by("position").first()


def test_a_cell_runs_and_writes_its_filtered_value_once(leads, api, make_enrichment) -> None:
    api.route("/people", lambda r: Reply.json({"data": {"email": r.query["email"][-1]}}))
    enrichment = make_enrichment(
        leads,
        request={
            "endpoint": api.url("/people"),
            "query": {"email": "{{ row.email }}"},
            "field_paths": "data.email",
        },
    )
    row = first_row(leads)
    run = queued_run(enrichment, [row])

    assert enrich_cell(run_id=run.pk, row_id=row.pk) == "done"
    assert enrich_cell(run_id=run.pk, row_id=row.pk).startswith("not claimed")

    cell = CellResult.objects.get(row=row, column=enrichment)
    assert cell.status == "done"
    assert cell.value == "lead0@example.test"
    assert cell.writes == 1
    assert cell.attempts == 1
    assert cell.requests == 1
    assert cell.http_status == 200
    assert len(cell.input_hash) == 64
    assert cell.debug["url"].startswith(api.url("/people"))
    assert api.count("/people") == 1


def test_only_run_if_skips_the_row_without_calling(leads, api, make_enrichment) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(
        leads, request={"endpoint": api.url("/")}, only_run_if='row.country == "US"'
    )
    row = first_row(leads)  # lead 0 is in FR
    run = queued_run(enrichment, [row])

    assert enrich_cell(run_id=run.pk, row_id=row.pk) == "skipped"
    cell = CellResult.objects.get(row=row, column=enrichment)
    assert cell.error == "Run condition not met."
    assert api.count() == 0


def test_an_upstream_error_is_a_clear_message_in_the_cell(leads, api, make_enrichment) -> None:
    api.route("/", json_reply({"error": "boom"}, status=500))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    row = first_row(leads)
    run = queued_run(enrichment, [row])

    assert enrich_cell(run_id=run.pk, row_id=row.pk) == "error"
    cell = CellResult.objects.get(row=row, column=enrichment)
    assert cell.error == "The API answered 500 Internal Server Error."
    assert cell.requests == 3  # retried, then reported
    assert cell.value is None


def test_a_template_error_names_what_is_wrong(leads, api, make_enrichment) -> None:
    enrichment = make_enrichment(
        leads, request={"endpoint": api.url("/") + "{{ get_secret('missing') }}"}
    )
    row = first_row(leads)
    outcome = execute(enrichment=enrichment, row=row)
    assert outcome.status == "error"
    assert "missing" in outcome.error
    assert api.count() == 0


def test_a_newer_run_takes_the_cell_and_the_older_cannot_write(leads, api, make_enrichment) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    row = first_row(leads)
    old = queued_run(enrichment, [row])
    new = queued_run(enrichment, [row])

    assert enrich_cell(run_id=old.pk, row_id=row.pk).startswith("not claimed")
    assert enrich_cell(run_id=new.pk, row_id=row.pk) == "done"
    assert CellResult.objects.get(row=row, column=enrichment).run_id == new.pk


def test_a_cancelled_run_makes_no_call(leads, api, make_enrichment) -> None:
    from enrich.enrichment.runs import run_cancel

    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    row = first_row(leads)
    run = queued_run(enrichment, [row])
    assert run_cancel(run=run) == 1

    assert enrich_cell(run_id=run.pk, row_id=row.pk) == "run gone or cancelled"
    assert CellResult.objects.get(row=row, column=enrichment).status == "cancelled"
    assert api.count() == 0


def test_a_cell_delivered_too_many_times_ends_as_an_error(leads, api, make_enrichment) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    row = first_row(leads)
    run = queued_run(enrichment, [row])
    CellResult.objects.filter(row=row).update(attempts=MAX_DELIVERIES)

    assert enrich_cell(run_id=run.pk, row_id=row.pk).startswith("gave up")
    cell = CellResult.objects.get(row=row, column=enrichment)
    assert cell.status == "error"
    assert f"started {MAX_DELIVERIES} times without finishing" in cell.error
    assert api.count() == 0
