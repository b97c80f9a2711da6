"""A blank cell is an empty value, never an "undefined" error.

Rows arrive with blank cells from a CSV import, "+ Row" and an edit that clears a cell; all of
them store no key for the blank. Templates and conditions read every column of the table: a
blank reads as None (falsy in a condition, empty in text, null as a whole JSON value, dropped by
"remove nulls"). Only a key that is no column at all is an error, and the save refuses it.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from connectors import TemplateContext, evaluate_expression, render_template
from connectors.errors import TemplateError
from enrich.columns import column_change_kind
from enrich.csv_import import import_start, import_upload
from enrich.enrichment.columns import EnrichmentProblems
from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.pipeline import execute
from enrich.enrichment.runs import run_progress, run_queue
from enrich.models import Row
from enrich.rows import row_add
from tests.enrich.conftest import csv_upload
from tests.enrich.enrichment.conftest import cells, wait_for_run
from tests.servers import Reply

LEADS_CSV = (
    "Name,Email,Country\n"
    "Ada,ada@example.test,UK\n"
    "Blank Email,,US\n"
    "Ünïcode 名前,名前@example.test,\n"
    '"Quoted, blank",,\n'
    "Grace,grace@example.test,US\n"
)


def echo(request) -> Reply:
    """An API that answers with what it was sent."""
    body = json.loads(request.body) if request.body else None
    return Reply.json({"query": {k: v[-1] for k, v in request.query.items()}, "body": body})


def imported_table(workspace):
    job = import_upload(workspace=workspace, upload=csv_upload(LEADS_CSV), created_by=None)
    job = import_start(job=job, background=False)
    assert job.status == "done", job.error
    return job.table


def rows_of(table) -> list[Row]:
    return list(Row.objects.filter(table=table).order_by("position"))


# --- the rule, in the template layer ---------------------------------------------------------


def test_a_blank_column_reads_as_none_and_an_unknown_key_stays_an_error() -> None:
    context = TemplateContext(row={"name": "Ada", "note": ""}, columns={"name", "email", "note"})

    assert evaluate_expression("row.email", context) is None
    assert evaluate_expression("row['email'] is none", context) is True
    assert evaluate_expression("not row.note", context) is True
    assert render_template("<{{ row.email }}>", context) == "<>"
    assert evaluate_expression("row | length", context) == 3
    with pytest.raises(TemplateError, match="no column 'phone'"):
        evaluate_expression("row.phone", context)


def test_without_a_column_list_the_row_is_strict_as_given() -> None:
    context = TemplateContext(row={"name": "Ada"})
    with pytest.raises(TemplateError, match="no column 'email'"):
        evaluate_expression("row.email", context)


# --- how rows store blanks --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_import_add_row_and_clearing_a_cell_all_store_no_key(client, workspace) -> None:
    table = imported_table(workspace)
    ada, blank, _, quoted, _ = rows_of(table)
    assert "email" not in blank.values and "country" not in quoted.values
    email = table.columns.get(key="email")

    response = client.post(reverse("row_add", args=[table.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    added = rows_of(table)[-1]
    assert added.values == {}

    response = client.post(
        reverse("cell_update", args=[ada.pk, email.pk]), {"value": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    ada.refresh_from_db()
    assert "email" not in ada.values
    assert ada.values["name"] == "Ada"


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_spaces_only_are_blank_in_the_import_an_edit_a_new_row_and_a_retype(
    client, workspace
) -> None:
    job = import_upload(
        workspace=workspace,
        upload=csv_upload("Name,Email,Extra\nAda,   ,\t\nGrace,grace@example.test,null\n"),
        created_by=None,
    )
    job = import_start(job=job, background=False)
    ada, grace = rows_of(job.table)
    assert ada.values == {"name": "Ada"}

    email = job.table.columns.get(key="email")
    response = client.post(
        reverse("cell_update", args=[grace.pk, email.pk]), {"value": "  "}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    grace.refresh_from_db()
    assert "email" not in grace.values

    assert row_add(table=job.table, values={"name": "Lin", "email": " \n "}).values == {
        "name": "Lin"
    }

    # "null" is text until the column becomes JSON, where it is no value at all.
    column_change_kind(column=job.table.columns.get(key="extra"), kind="json")
    grace.refresh_from_db()
    assert grace.values == {"name": "Grace"}


# --- the pipeline: conditions, text, JSON bodies ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_only_run_if_on_a_blank_cell_is_skipped_not_an_error(
    workspace, api, make_enrichment
) -> None:
    table = imported_table(workspace)
    api.route("/", echo)
    enrichment = make_enrichment(
        table, request={"endpoint": api.url("/?e={{ row.email }}")}, only_run_if="row.email"
    )
    _, blank, unicode_row, quoted, _ = rows_of(table)

    assert execute(enrichment=enrichment, row=blank).status == "skipped"
    assert execute(enrichment=enrichment, row=quoted).status == "skipped"
    outcome = execute(enrichment=enrichment, row=unicode_row)
    assert outcome.status == "done", outcome.error
    assert outcome.value["query"] == {"e": "名前@example.test"}
    assert api.count() == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_a_blank_cell_is_empty_text_null_in_a_body_and_dropped_by_remove_nulls(
    workspace, api, make_enrichment
) -> None:
    table = imported_table(workspace)
    api.route("/", echo)
    request = {
        "method": "POST",
        "endpoint": api.url("/?email={{ row.email }}&c={{ row.country | default('none') }}"),
        "body": {"email": "{{ row.email }}", "who": "{{ row.name }} <{{ row.email }}>"},
    }
    kept = make_enrichment(table, label="Kept", request=request)
    dropped = make_enrichment(table, label="Dropped", request={**request, "remove_nulls": True})
    blank = rows_of(table)[1]

    outcome = execute(enrichment=kept, row=blank)
    assert outcome.status == "done", outcome.error
    assert outcome.value["query"] == {"email": "", "c": "US"}
    assert outcome.value["body"] == {"email": None, "who": "Blank Email <>"}

    outcome = execute(enrichment=dropped, row=blank)
    assert outcome.value["body"] == {"who": "Blank Email <>"}


@pytest.mark.django_db
def test_a_key_that_is_no_column_is_refused_when_the_column_is_saved(
    leads, api, make_enrichment
) -> None:
    with pytest.raises(EnrichmentProblems) as problems:
        make_enrichment(leads, request={"endpoint": api.url("/")}, only_run_if="row.phone")
    assert "row.phone" in problems.value.errors["only_run_if"], problems.value.errors


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_test_on_a_row_shows_a_blank_row_as_skipped(client, workspace, api, make_enrichment):
    table = imported_table(workspace)
    api.route("/", echo)
    enrichment = make_enrichment(
        table, request={"endpoint": api.url("/?e={{ row.email }}")}, only_run_if="row.email"
    )
    blank = rows_of(table)[1]

    response = client.post(
        reverse("enrichment_test", args=[enrichment.pk]),
        {"row": str(blank.pk)},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Run condition not met" in page
    assert "undefined" not in page
    assert api.count() == 0


# --- on a real worker ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_on_a_worker_skips_blank_rows_and_a_re_run_leaves_them_alone(
    celery_worker, client, workspace, make_table, api, make_enrichment
) -> None:
    rows = [{"name": f"Lead {n}", "email": f"lead{n}@example.test"} for n in range(6)]
    rows[1] = {"name": "No email"}
    rows[4] = {"name": "Empty email", "email": ""}
    table = make_table(workspace, columns=("Name", "Email"), rows=rows)
    api.route("/", echo)
    enrichment = make_enrichment(
        table,
        request={"endpoint": api.url("/"), "query": {"email": "{{ row.email }}"}},
        only_run_if="row.email",
        auto_update=True,
    )
    # From the command line, as a script would: the blank rows count as skipped, and the
    # command succeeds (a skipped cell is no error).
    out = io.StringIO()
    call_command(
        "run_column",
        workspace=str(workspace.pk),
        table=str(table.pk),
        column=enrichment.column.key,
        wait=True,
        timeout=60,
        stdout=out,
    )
    run = Run.objects.get(column=enrichment)
    assert "done 4 · error 0 · skipped 2" in out.getvalue(), out.getvalue()

    statuses = [cell.status for cell in cells(enrichment)]
    assert statuses == ["done", "skipped", "done", "done", "skipped", "done"]
    progress = run_progress(run=run)
    assert (progress.done, progress.skipped, progress.error) == (4, 2, 0)
    assert api.count() == 4

    with transaction.atomic():
        again = run_queue(enrichment=enrichment, scope="unfinished")
    again = wait_for_run(again, worker=celery_worker)
    assert again.total == 0
    assert CellResult.objects.filter(column=enrichment, status="skipped").count() == 2
    assert api.count() == 4

    # Auto-update: clearing an email re-runs that one cell, which is now skipped, not an error.
    first = Row.objects.filter(table=table).order_by("position").first()
    email = table.columns.get(key="email")
    response = client.post(
        reverse("cell_update", args=[first.pk, email.pk]), {"value": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    rerun = Run.objects.filter(column=enrichment).order_by("-pk").first()
    rerun = wait_for_run(rerun, worker=celery_worker)
    assert rerun.row_ids == [first.pk]
    cell = CellResult.objects.get(column=enrichment, row=first)
    assert (cell.status, cell.error) == ("skipped", "Run condition not met.")
    assert api.count() == 4
