"""The enrichment panel, test on a row, run, progress, cell panel and "Add as column", through
the real views (no worker: runs are planned and executed in-process where a test needs it)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from enrich.enrichment.models import CellResult, EnrichmentColumn, ResultField, Run
from enrich.enrichment.pipeline import enrich_cell
from enrich.enrichment.runs import run_plan
from enrich.models import ColumnKind, Row
from tests.servers import Reply, json_reply

pytestmark = pytest.mark.django_db


def panel_data(url: str, **overrides: str) -> dict[str, str]:
    data = {
        "label": "Profile",
        "account": "",
        "method": "GET",
        "endpoint": url,
        "query": "email: {{ row.email }}",
        "headers": "",
        "body": "",
        "field_paths": "",
        "timeout_s": "10",
        "retry_attempts": "1",
        "rate_limit_requests": "",
        "rate_limit_per_ms": "1000",
        "follow_redirects": "on",
        "max_redirects": "5",
        "only_run_if": "",
        "token_location": "access_token",
        "token_type": "Bearer",
        "auth_header_name": "Authorization",
    }
    data.update(overrides)
    return data


def test_the_panel_adds_an_enrichment_column(client, leads, api) -> None:
    page = client.get(reverse("enrichment_create", args=[leads.pk]))
    assert page.status_code == 200
    assert b"row.email" in page.content  # the column picker

    response = client.post(
        reverse("enrichment_create", args=[leads.pk]),
        panel_data(api.url("/people"), auto_update="on", only_run_if='row.country == "US"'),
    )

    enrichment = EnrichmentColumn.objects.get(column__table=leads)
    assert response.status_code == 302
    assert enrichment.column.kind == ColumnKind.ENRICHMENT
    assert enrichment.request["query"] == {"email": "{{ row.email }}"}
    assert enrichment.auto_update is True
    assert sorted(enrichment.dependencies) == ["country", "email"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"query": "email: {{ row.mail }}"},
            "endpoint",
            "row.mail, which this table has no column",
        ),
        ({"body": '{"a": {{ row.email }}}', "method": "POST"}, "body", "Not valid JSON"),
        ({"endpoint": "ftp://x.example/"}, "endpoint", "http"),
        ({"only_run_if": "row.email ==="}, "only_run_if", "syntax"),
        ({"only_run_if": "row.emial"}, "only_run_if", "row.emial, which this table has no column"),
        ({"query": "no colon here"}, "query", "name: value"),
        ({"body": '{"a": "{{ row.email"}', "method": "POST"}, "body", "body.a"),
    ],
)
def test_mistakes_are_shown_next_to_their_field_and_nothing_is_saved(
    client, leads, api, overrides, field, message
) -> None:
    response = client.post(
        reverse("enrichment_create", args=[leads.pk]), panel_data(api.url("/"), **overrides)
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message.lower() in error.lower() for error in errors[field]), errors
    assert not EnrichmentColumn.objects.exists()


def test_test_on_a_row_shows_the_exchange_and_writes_nothing(
    client, leads, api, make_enrichment
) -> None:
    api.route("/people", lambda r: Reply.json({"name": "Ada", "email": r.query["email"][-1]}))
    enrichment = make_enrichment(
        leads, request={"endpoint": api.url("/people"), "query": {"email": "{{ row.email }}"}}
    )
    row = Row.objects.filter(table=leads).order_by("position").first()

    response = client.post(reverse("enrichment_test", args=[enrichment.pk]), {"row": row.pk})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Success" in html and "HTTP 200" in html
    assert "lead0@example.test" in html
    assert "Ada" in html
    assert not CellResult.objects.exists()


def test_run_progress_and_the_cell_panel(client, leads, api, make_enrichment) -> None:
    api.route("/", json_reply({"data": {"name": "Ada", "tags": ["a", "b"]}}))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/?e={{ row.email }}")})

    client.post(reverse("enrichment_run", args=[enrichment.pk]), {"scope": "all"})
    run = Run.objects.get()
    run_plan(run_id=run.pk)  # what the worker does first
    progress = client.get(
        reverse("enrichment_progress", args=[enrichment.pk]), HTTP_HX_REQUEST="true"
    )
    assert progress.status_code == 200
    assert "10 pending" in progress.content.decode()

    for row in Row.objects.filter(table=leads):
        enrich_cell(run_id=run.pk, row_id=row.pk)
    finished = client.get(
        reverse("enrichment_progress", args=[enrichment.pk]), HTTP_HX_REQUEST="true"
    )
    assert finished.status_code == 286  # htmx: stop polling
    assert "10 done" in finished.content.decode()

    row = Row.objects.filter(table=leads).first()
    panel = client.get(reverse("cell_detail", args=[row.pk, enrichment.pk]), HTTP_HX_REQUEST="true")
    html = panel.content.decode()
    assert "Done" in html and "Ada" in html
    assert "just now" in html  # when it ran
    assert "data.name" in html  # "Add as column" on the field's path
    assert "Request and response" in html


def test_add_as_column_reads_a_path_of_the_results(client, leads, api, make_enrichment) -> None:
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})

    client.post(reverse("result_field_create", args=[enrichment.pk]), {"path": "data.name"})

    field = ResultField.objects.get()
    assert field.source == enrichment
    assert field.path == "data.name"
    assert field.column.kind == ColumnKind.RESULT_FIELD
    assert field.column.label == "Profile · data.name"


def test_cancel_from_the_progress_bar(client, leads, api, make_enrichment) -> None:
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    client.post(reverse("enrichment_run", args=[enrichment.pk]), {"scope": "all"})
    run = Run.objects.get()
    run_plan(run_id=run.pk)

    response = client.post(reverse("run_cancel", args=[run.pk]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "10 cancelled" in response.content.decode()
    assert api.count() == 0


def test_editing_an_account_offers_to_re_run_its_columns(
    client, workspace, leads, api, make_enrichment
) -> None:
    from accounts.connection_accounts import account_create

    account = account_create(
        workspace=workspace, name="Key", auth_type="api_key",
        fields={"key": "X-API-Key", "value": "k-12345678"},
    ).account  # fmt: skip
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")}, account=account)
    page = client.get(reverse("account_detail", args=[account.pk]))
    assert "Re-run every column that uses it" in page.content.decode()

    client.post(reverse("account_columns_rerun", args=[account.pk]))

    run = Run.objects.get()
    assert (run.column_id, run.force, run.scope) == (enrichment.pk, True, "all")


def test_queueing_a_100000_row_run_returns_at_once(
    client,
    workspace,
    make_table,
    api,
    make_enrichment,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
) -> None:
    """The request does a fixed, small amount of work whatever the table's size: it records
    the run and sends one task; a worker plans the cells in chunks."""
    from enrich.rows import rows_insert

    table = make_table(workspace, columns=("N",), rows=[])
    rows_insert(table=table, rows=({"n": str(n)} for n in range(100_000)), start_position=0)
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    client.get(reverse("enrichment_edit", args=[enrichment.pk]))  # session and user loaded

    with django_capture_on_commit_callbacks() as callbacks, django_assert_max_num_queries(12):
        response = client.post(reverse("enrichment_run", args=[enrichment.pk]), {"scope": "all"})

    assert response.status_code == 302
    run = Run.objects.get(column=enrichment)
    assert run.status == Run.Status.PLANNING
    assert not CellResult.objects.filter(run=run).exists()
    assert len(callbacks) == 1  # the one task: plan the run


def test_the_row_picker_lists_imported_rows_and_a_bad_row_is_a_404(
    client, workspace, make_table, api, make_enrichment
) -> None:
    """Rows of a finished import keep their import's tag; the picker must still offer them."""
    from enrich.models import ImportJob
    from enrich.rows import rows_insert

    table = make_table(workspace, columns=("Email",), rows=[])
    job = ImportJob.objects.create(
        table=table, file="leads.csv", original_name="leads.csv", status=ImportJob.Status.DONE
    )
    rows_insert(table=table, rows=[{"email": "ada@example.test"}], start_position=0, import_job=job)
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?e={{ row.email }}")})

    page = client.get(reverse("enrichment_edit", args=[enrichment.pk]))
    refused = client.post(reverse("enrichment_test", args=[enrichment.pk]), {"row": "first"})

    assert page.status_code == 200
    assert "#1 · ada@example.test" in page.content.decode()
    assert refused.status_code == 404


def test_the_run_summary_stays_in_the_header_until_the_next_run(
    client, leads, api, make_enrichment
) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(
        leads,
        request={"endpoint": api.url("/?e={{ row.email }}")},
        only_run_if='row.country == "US"',
    )
    grid_url = reverse("table_detail", args=[leads.pk])
    client.post(reverse("enrichment_run", args=[enrichment.pk]), {"scope": "all"})
    run = Run.objects.get()
    run_plan(run_id=run.pk)
    for row in Row.objects.filter(table=leads):
        enrich_cell(run_id=run.pk, row_id=row.pk)
    client.get(reverse("enrichment_progress", args=[enrichment.pk]), HTTP_HX_REQUEST="true")

    with CaptureQueriesContext(connection) as queries:
        html = client.get(grid_url, HTTP_HX_REQUEST="true").content.decode()

    summary = re.sub(r"\s+", " ", re.search(r'<p class="run-summary".*?</p>', html, re.S)[0])
    assert "Last run" in summary
    assert "6 done" in summary and "0 errors" in summary and "4 skipped" in summary
    assert "6 requests" in summary  # the skipped rows sent none
    assert re.search(r"· \d+ (ms|s) ·", summary), summary  # the duration
    sums = [
        q for q in queries.captured_queries if 'SUM("enrichment_cellresult"."requests")' in q["sql"]
    ]
    assert len(sums) == 1  # one aggregate for the page, not one query per cell
    assert 'class="run-progress__bar"' not in html

    client.post(reverse("enrichment_run", args=[enrichment.pk]), {"scope": "all", "force": "1"})
    html = client.get(grid_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'class="run-summary"' not in html  # the next run shows its progress instead
    assert 'class="run-progress__bar"' in html


def confirm_text(client, enrichment, **params: str) -> str:
    response = client.get(
        reverse("enrichment_run_confirm", args=[enrichment.pk]), params, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_whole_column_run_says_how_many_rows_and_requests_before_anything_is_sent(
    client, leads, api, make_enrichment
) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/?e={{ row.email }}")})
    rows = list(Row.objects.filter(table=leads).order_by("position"))

    first = confirm_text(client, enrichment, scope="all")
    assert "<html" not in first  # the dialog's content only
    assert "10 rows</strong>" in first and "10 requests</strong>" in first
    assert f"to 127.0.0.1:{api.port}" in first
    assert "up to 30 if every request is retried" in first  # three attempts each
    assert "Run 10 rows</button>" in first and "autofocus" in first
    assert not Run.objects.exists() and api.count() == 0  # asking sends nothing

    client.post(
        reverse("enrichment_run", args=[enrichment.pk]),
        {"scope": "rows", "rows": [row.pk for row in rows[:4]]},
    )
    run = Run.objects.get()
    run_plan(run_id=run.pk)
    for row in rows[:4]:
        enrich_cell(run_id=run.pk, row_id=row.pk)

    assert "6 rows</strong>" in confirm_text(client, enrichment, scope="all")
    assert "6 rows</strong>" in confirm_text(client, enrichment, scope="unfinished")
    assert "10 rows</strong>" in confirm_text(client, enrichment, scope="all", force="1")
    client.post(reverse("cell_update", args=[rows[0].pk, leads.columns.get(key="email").pk]),
                {"value": "ada@example.test"})  # fmt: skip
    assert "7 rows</strong>" in confirm_text(client, enrichment, scope="all")  # inputs changed
    assert "6 rows</strong>" in confirm_text(client, enrichment, scope="unfinished")


def test_a_column_with_nothing_to_run_says_so_and_offers_only_to_close(
    client, workspace, make_table, api, make_enrichment
) -> None:
    table = make_table(workspace, columns=("Email",), rows=[])
    enrichment = make_enrichment(table, request={"endpoint": api.url("/")})

    text = confirm_text(client, enrichment, scope="all", force="1")

    assert "Nothing to run: the table has no rows." in text
    assert "<form" not in text and "Close</a>" in text


def test_the_confirm_step_is_a_page_without_htmx_and_its_form_runs(
    client, leads, api, make_enrichment
) -> None:
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    url = reverse("enrichment_run_confirm", args=[enrichment.pk])

    page = client.get(url, {"scope": "unfinished"})
    html = page.content.decode()

    assert page.status_code == 200 and "<html" in html
    assert "not yet run or in error" in html
    assert f'action="{reverse("enrichment_run", args=[enrichment.pk])}"' in html
    assert 'name="scope" value="unfinished"' in html
    assert client.get(url, {"scope": "nonsense"}).status_code == 200  # read as "all"


def test_re_running_an_account_s_columns_asks_first_with_the_counts(
    client, workspace, leads, make_table, api, make_enrichment
) -> None:
    from accounts.connection_accounts import account_create

    account = account_create(
        workspace=workspace, name="Key", auth_type="api_key",
        fields={"key": "X-API-Key", "value": "k-12345678"},
    ).account  # fmt: skip
    make_enrichment(leads, request={"endpoint": api.url("/")}, account=account)
    other = make_table(workspace, name="Companies", columns=("Domain",), rows=3)
    make_enrichment(
        other, label="Firmographics", request={"endpoint": api.url("/")}, account=account
    )

    response = client.get(
        reverse("account_columns_rerun", args=[account.pk]), HTTP_HX_REQUEST="true"
    )

    text = re.sub(r"\s+", " ", response.content.decode())
    assert "Re-run every column that uses “Key”?" in text
    assert 'Profile <span class="muted">in Leads</span>: 10 rows' in text
    assert 'Firmographics <span class="muted">in Companies</span>: 3 rows' in text
    assert "13 rows</strong>" in text and "13 requests</strong>" in text
    assert not Run.objects.exists()


def test_test_on_a_row_finds_any_row_by_any_column(
    client, workspace, make_table, api, make_enrichment
) -> None:
    rows = [{"name": f"Person {n}", "email": f"p{n}@example.test"} for n in range(120)]
    table = make_table(workspace, columns=("Name", "Email"), rows=rows)
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?e={{ row.email }}")})
    page = client.get(reverse("enrichment_edit", args=[enrichment.pk])).content.decode()
    assert page.count("<option value=") - page.count('id="id_') < 200  # not every row at once
    assert "p119@example.test" not in page

    found = client.get(
        reverse("enrichment_test_rows", args=[enrichment.pk]), {"q": "P119@"},
        HTTP_HX_REQUEST="true",
    ).content.decode()  # fmt: skip
    none = client.get(
        reverse("enrichment_test_rows", args=[enrichment.pk]), {"q": "nobody"},
        HTTP_HX_REQUEST="true",
    ).content.decode()  # fmt: skip

    last = Row.objects.get(table=table, values__email="p119@example.test")
    assert re.findall(r'<option value="(\d+)">([^<]*)</option>', found) == [
        (str(last.pk), "Person 119 · p119@example.test")
    ]
    assert "No row contains “nobody”" in none
    api.route("/", json_reply({"name": "Person 119"}))
    tested = client.post(reverse("enrichment_test", args=[enrichment.pk]), {"row": last.pk})
    html = tested.content.decode()
    assert "Value the cell would get" in html, html
    assert "p119@example.test" in html or "p119%40example.test" in html, html
    assert not CellResult.objects.exists()


def test_the_cell_panel_names_its_row_by_number_and_first_column(
    client, leads, api, make_enrichment
) -> None:
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    third = Row.objects.filter(table=leads).order_by("position")[2]

    panel = client.get(
        reverse("cell_detail", args=[third.pk, enrichment.pk]), HTTP_HX_REQUEST="true"
    )

    html = re.sub(r"\s+", " ", panel.content.decode())
    assert (
        '<p class="cell-panel__row">Row 3 · <span title="Email">lead2@example.test</span></p>'
        in html
    )
    assert 'aria-label="Profile, row 3 (lead2@example.test)"' in html


@pytest.mark.parametrize(
    ("pending", "running", "rate", "said"),
    [
        (90, 10, 1.0, "about 1 min 40 s left"),
        (0, 3, 1.0, "finishing…"),  # every cell left is already in flight
        (5, 1, 0.0, "finishing…"),  # no answer for a while: no rate, no made-up time
    ],
)
def test_the_time_left_is_told_honestly_near_the_end(
    leads, api, make_enrichment, pending, running, rate, said
) -> None:
    from django.template.loader import render_to_string

    from enrich.enrichment.runs import Progress

    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    run = Run.objects.create(column=enrichment, status=Run.Status.RUNNING, total=110)
    progress = Progress(
        run=run, done=10, error=0, skipped=0, pending=pending, running=running, cancelled=0,
        rate_per_s=rate,
    )  # fmt: skip

    html = render_to_string(
        "enrichment/column_status.html#progress", {"enrichment": enrichment, "progress": progress}
    )

    assert said in html
    assert html.count("left") <= 1


def test_the_confirm_step_of_a_first_run_counts_a_big_table_in_a_few_queries(
    client, workspace, make_table, api, make_enrichment, django_assert_max_num_queries
) -> None:
    from enrich.rows import rows_insert

    table = make_table(workspace, columns=("N",), rows=[])
    rows_insert(table=table, rows=({"n": str(n)} for n in range(20_000)), start_position=0)
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    client.get(reverse("enrichment_edit", args=[enrichment.pk]))  # session and user loaded

    with django_assert_max_num_queries(10):
        text = confirm_text(client, enrichment, scope="all")

    assert "20,000 rows</strong>" in text
