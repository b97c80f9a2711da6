"""Pages and htmx partials of enrichment columns. Views parse input and call services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from accounts.decorators import workspace_required
from accounts.models import Account
from accounts.object_ids import parse_id, parse_ids
from accounts.request_types import WorkspaceRequest
from connectors import ConfigError
from enrich.columns import column_rename
from enrich.enrichment import pipeline
from enrich.enrichment.broker import broker_reachable
from enrich.enrichment.columns import (
    EnrichmentProblems,
    EnrichmentSpec,
    enrichment_column_create,
    enrichment_column_update,
    formula_preview_rows,
    result_field_add,
)
from enrich.enrichment.forms import (
    FIELD_FOR,
    BaseStepFormSet,
    EnrichmentForm,
    FormulaForm,
    WaterfallForm,
    WaterfallStepForm,
    WaterfallStepFormSet,
)
from enrich.enrichment.function_groups import FUNCTION_GROUPS
from enrich.enrichment.grid import COMPUTED_KINDS, attach_computed_cells
from enrich.enrichment.models import CellResult, EnrichmentColumn, Run, TableEnrichmentSettings
from enrich.enrichment.run_stats import RunEstimate, run_estimate, run_summaries
from enrich.enrichment.runs import run_cancel, run_progress, run_queue
from enrich.exceptions import TableError
from enrich.grid import GridQuery, filtered_rows, visible_rows
from enrich.models import Column, Row, Table


def _table(request: WorkspaceRequest, table_id: int) -> Table:
    return get_object_or_404(Table, pk=table_id, workspace=request.workspace)


def _enrichment(request: WorkspaceRequest, column_id: int) -> EnrichmentColumn:
    return get_object_or_404(
        EnrichmentColumn.objects.select_related("column__table", "account"),
        pk=column_id,
        column__table__workspace=request.workspace,
    )


def _to_grid(request: WorkspaceRequest, table: Table) -> HttpResponse:
    url = reverse("table_detail", args=[table.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _spec(
    request: WorkspaceRequest, form: EnrichmentForm, *, base: dict[str, Any] | None = None
) -> EnrichmentSpec:
    """The form's column, written by an owner or a member (who may not widen where an
    account's credentials go)."""
    return replace(form.spec(base=base), by_owner=bool(request.membership.is_owner))


@workspace_required
def enrichment_create(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """ "Add enrichment → HTTP API": the full request config, run settings and a column picker."""
    return _http_panel(request, _table(request, table_id), None)


@workspace_required
def enrichment_edit(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    """A computed column's settings, in the panel of its kind."""
    enrichment = _enrichment(request, column_id)
    return PANELS[enrichment.kind](request, enrichment.column.table, enrichment)


def _http_panel(
    request: WorkspaceRequest, table: Table, enrichment: EnrichmentColumn | None
) -> HttpResponse:
    form = EnrichmentForm(
        request.POST or None,
        workspace=request.workspace,
        initial=EnrichmentForm.initial_for(enrichment) if enrichment else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            if enrichment is None:
                enrichment = enrichment_column_create(
                    table=table, label=form.cleaned_data["label"], spec=_spec(request, form)
                )
                messages.success(
                    request,
                    f"Column “{enrichment.column.label}” added. Run it from its menu, or test "
                    "it on a row first.",
                )
            else:
                enrichment_column_update(
                    enrichment=enrichment, spec=_spec(request, form, base=enrichment.request)
                )
                messages.success(request, "Saved. Cells keep their values until they run again.")
        except EnrichmentProblems as problems:
            form.add_problems(problems)
        else:
            return redirect("enrichment_edit", column_id=enrichment.pk)
    return render(
        request, "enrichment/panel.html", _panel_context(request, table, form, enrichment)
    )


@workspace_required
def formula_create(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """ "+ Column → Formula": an expression over the row, computed as rows change."""
    return _formula_panel(request, _table(request, table_id), None)


def _formula_panel(
    request: WorkspaceRequest, table: Table, enrichment: EnrichmentColumn | None
) -> HttpResponse:
    initial = FormulaForm.initial_for(enrichment) if enrichment else None
    form = FormulaForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if enrichment is None:
                enrichment = enrichment_column_create(
                    table=table, label=form.cleaned_data["label"], spec=form.spec()
                )
            else:
                column_rename(column=enrichment.column, label=form.cleaned_data["label"])
                enrichment_column_update(enrichment=enrichment, spec=form.spec())
        except EnrichmentProblems as problems:
            form.add_problems(problems)
        except TableError as refused:
            form.add_error("label", str(refused))
        else:
            note = _formula_errors_note(enrichment)
            messages.success(request, f"Formula “{enrichment.column.label}” computed.{note}")
            return redirect("table_detail", table_id=table.pk)
    own = enrichment.column.key if enrichment else None
    return render(
        request,
        "enrichment/formula_panel.html",
        {
            "table": table,
            "form": form,
            "enrichment": enrichment,
            "columns": [
                column for column in table.columns.order_by("position", "pk") if column.key != own
            ],
            "functions": FUNCTION_GROUPS,
        },
    )


@workspace_required
def waterfall_create(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """ "+ Enrichment → Waterfall": providers asked in order until one answers."""
    return _waterfall_panel(request, _table(request, table_id), None)


def _waterfall_panel(
    request: WorkspaceRequest, table: Table, enrichment: EnrichmentColumn | None
) -> HttpResponse:
    saved = list(enrichment.config.get("steps") or []) if enrichment else []
    form = WaterfallForm(
        request.POST or None,
        initial=WaterfallForm.initial_for(enrichment) if enrichment else None,
    )
    steps = WaterfallStepFormSet(
        request.POST or None,
        prefix="steps",
        form_kwargs={"workspace": request.workspace},
        initial=[WaterfallStepForm.initial_for(step) for step in saved] or [{}],
    )
    if request.method == "POST" and form.is_valid() and steps.is_valid():
        spec = replace(
            form.spec(steps.ordered_steps(base=saved)),
            by_owner=bool(request.membership.is_owner),
        )
        try:
            if enrichment is None:
                enrichment = enrichment_column_create(
                    table=table, label=form.cleaned_data["label"], spec=spec
                )
            else:
                column_rename(column=enrichment.column, label=form.cleaned_data["label"])
                enrichment_column_update(enrichment=enrichment, spec=spec)
        except EnrichmentProblems as problems:
            _step_problems(form, steps, problems)
        except TableError as refused:
            form.add_error("label", str(refused))
        else:
            messages.success(
                request,
                f"Waterfall “{enrichment.column.label}” saved. Test it on a row, then run it.",
            )
            return redirect("enrichment_edit", column_id=enrichment.pk)
    own = enrichment.column.key if enrichment else None
    columns = [c for c in table.columns.order_by("position", "pk") if c.key != own]
    return render(
        request,
        "enrichment/waterfall_panel.html",
        {
            "table": table,
            "form": form,
            "steps": steps,
            "enrichment": enrichment,
            "columns": columns,
            "sample_rows": _row_choices(table=table, columns=columns) if enrichment else [],
            **(_run_status(enrichment.runs.order_by("-pk").first()) if enrichment else {}),
        },
    )


def _step_problems(
    form: WaterfallForm, steps: BaseStepFormSet, problems: EnrichmentProblems
) -> None:
    """Each problem next to its field: ``steps.1.endpoint`` under step 2's endpoint."""
    for name, message in problems.errors.items():
        parts = name.split(".")
        if parts[0] == "steps" and len(parts) > 2 and parts[1].isdigit():
            index, field = int(parts[1]), parts[2]
            kept = steps.kept_forms()
            target = kept[index] if index < len(kept) else None
            if target is not None:
                field = FIELD_FOR.get(field, field)
                target.add_error(field if field in target.fields else "endpoint", message)
                continue
        on_field = name if name in form.fields else None
        form.add_error(on_field, message if on_field else f"{name}: {message}")


def _formula_errors_note(enrichment: EnrichmentColumn) -> str:
    """How many rows the formula failed on, and the first: " 3 rows gave an error; row 17:
    Divide by zero." (the row's number in the table's order)."""
    failed = CellResult.objects.filter(column=enrichment, status=CellResult.Status.ERROR)
    errors = failed.count()
    if not errors:
        return ""
    first = failed.select_related("row").order_by("row__position", "row_id").first()
    assert first is not None
    rows = visible_rows(table=enrichment.column.table)
    number = (
        rows.filter(
            Q(position__lt=first.row.position) | Q(position=first.row.position, pk__lt=first.row_id)
        ).count()
        + 1
    )
    return f" {errors:,} row{'s' if errors != 1 else ''} gave an error; row {number}: {first.error}"


#: Rows a formula's preview computes.
PREVIEW_ROWS = 5


@require_POST
@workspace_required
def formula_preview(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """The formula as typed, computed on the first rows: the value or the error of each.
    Writes nothing."""
    table = _table(request, table_id)
    expression = request.POST.get("expression", "")[:10_000].strip()
    output = request.POST.get("output", "auto")
    own = request.POST.get("own", "")
    results: list[tuple[Row, Any, str]] = []
    problem = ""
    if expression:
        try:
            rows = formula_preview_rows(
                table=table, expression=expression, output=output, own_key=own, limit=PREVIEW_ROWS
            )
        except EnrichmentProblems as problems:
            problem = " ".join(problems.errors.values())
        else:
            results = rows
    return render(
        request,
        "enrichment/formula_panel.html#preview",
        {"results": results, "problem": problem, "expression": expression},
    )


def _panel_context(
    request: WorkspaceRequest,
    table: Table,
    form: EnrichmentForm,
    enrichment: EnrichmentColumn | None,
) -> dict[str, Any]:
    own = enrichment.column.key if enrichment else None
    columns = [column for column in table.columns.order_by("position", "pk") if column.key != own]
    return {
        "table": table,
        "form": form,
        "enrichment": enrichment,
        "columns": columns,
        "sample_rows": _row_choices(table=table, columns=columns),
        **(_run_status(enrichment.runs.order_by("-pk").first()) if enrichment else {}),
    }


def _run_status(run: Run | None) -> dict[str, Any]:
    """What the column's progress partial shows of ``run``: its progress while it is active,
    its summary once it is over."""
    if run is None:
        return {"progress": None, "summary": None}
    progress = run_progress(run=run)
    summary = None if run.is_active else run_summaries(runs=[run])[run.pk]
    return {"progress": progress, "summary": summary}


#: Rows the "Test on a row" picker offers at once; a search finds any other.
ROW_CHOICES = 50


@dataclass(frozen=True)
class RowChoice:
    """A row as the "Test on a row" picker offers it."""

    pk: int
    preview: str  # the row's first two non-empty cells in column order


def _row_choices(*, table: Table, columns: list[Column], search: str = "") -> list[RowChoice]:
    """The rows the picker offers: the first ones, or those with ``search`` in any stored
    column."""
    stored = [column for column in columns if column.kind not in COMPUTED_KINDS]
    query = GridQuery(search=search.strip()[:200])
    choices = []
    for row in filtered_rows(table=table, columns=stored, query=query)[:ROW_CHOICES]:
        filled = (row.values.get(column.key) for column in stored)
        shown = [str(value) for value in filled if value not in (None, "")][:2]
        choices.append(RowChoice(pk=row.pk, preview=" · ".join(shown)))
    return choices


@workspace_required
def enrichment_test_rows(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    """The picker's rows matching ``q`` (any column), so a test can use any row."""
    enrichment = _enrichment(request, column_id)
    table = enrichment.column.table
    columns = [
        column for column in table.columns.order_by("position", "pk") if column.pk != enrichment.pk
    ]
    search = request.GET.get("q", "")
    return render(
        request,
        "enrichment/panel.html#row-options",
        {
            "sample_rows": _row_choices(table=table, columns=columns, search=search),
            "search": search.strip(),
        },
    )


@require_POST
@workspace_required
def enrichment_test(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    """ "Test on a row": send the real request, show what happened, write nothing."""
    enrichment = _enrichment(request, column_id)
    row = get_object_or_404(
        visible_rows(table=enrichment.column.table), pk=parse_id(request.POST.get("row", "")) or 0
    )
    outcome = pipeline.execute(enrichment=enrichment, row=row)
    return render(
        request,
        "enrichment/panel.html#test-result",
        {"outcome": outcome, "row": row, "enrichment": enrichment},
    )


@require_POST
@workspace_required
def enrichment_run(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    """Run the column: every row, rows not yet run or in error, selected rows, or one cell."""
    enrichment = _enrichment(request, column_id)
    scope = request.POST.get("scope", Run.Scope.ALL)
    if scope not in Run.Scope.values:
        scope = Run.Scope.ALL
    row_ids = parse_ids(request.POST.getlist("rows"))
    if scope == Run.Scope.ROWS and not row_ids:
        messages.error(request, "Select the rows to run first.")
        return _to_grid(request, enrichment.column.table)
    with transaction.atomic():
        run = run_queue(
            enrichment=enrichment,
            scope=scope,
            row_ids=row_ids,
            force=request.POST.get("force") == "1",
            created_by=request.user,
        )
    if not broker_reachable():
        # The run is recorded; a worker plans it once the queue answers again.
        messages.warning(
            request, "The queue is unreachable, retrying: the run starts once it answers."
        )
    if request.htmx:
        return render(
            request,
            "enrichment/column_status.html#progress",
            {"enrichment": enrichment, "progress": run_progress(run=run)},
        )
    messages.info(request, f"Running “{enrichment.column.label}”.")
    return redirect("table_detail", table_id=enrichment.column.table_id)


def _confirm(request: WorkspaceRequest, context: dict[str, Any]) -> HttpResponse:
    """The confirm step of a run that sends many requests: a page, or for htmx its dialog."""
    estimates: list[RunEstimate] = context["estimates"]
    context |= {
        "rows": sum(estimate.rows for estimate in estimates),
        "requests": sum(estimate.requests for estimate in estimates),
        "most_requests": sum(estimate.most_requests for estimate in estimates),
        "hosts": sorted({estimate.host for estimate in estimates if estimate.host}),
    }
    template = "enrichment/run_confirm.html"
    if request.htmx:
        template += "#confirm"
    return render(request, template, context)


@workspace_required
def enrichment_run_confirm(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    """Before a run over the whole column: how many rows it queues and requests it sends."""
    enrichment = _enrichment(request, column_id)
    scope = request.GET.get("scope", Run.Scope.ALL)
    if scope not in {Run.Scope.ALL, Run.Scope.UNFINISHED}:
        scope = Run.Scope.ALL
    force = request.GET.get("force") == "1"
    return _confirm(
        request,
        {
            "enrichment": enrichment,
            "estimates": [run_estimate(enrichment=enrichment, scope=scope, force=force)],
            "scope": scope,
            "force": force,
            "action": reverse("enrichment_run", args=[enrichment.pk]),
            "back_url": reverse("table_detail", args=[enrichment.column.table_id]),
        },
    )


#: Cells a progress poll sends back at most: the rows the user can see.
LIVE_ROWS_MAX = 300
#: A poll looks this far behind its last one, so a cell written while that one rendered is
#: not missed (sending a cell twice is harmless).
LIVE_OVERLAP = timedelta(seconds=2)


@workspace_required
def enrichment_progress(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    """The column's progress bar, and the visible cells that changed since the last poll
    (``rows``, ``since``) swapped in place; polling stops once the run is over."""
    enrichment = _enrichment(request, column_id)
    run = enrichment.runs.order_by("-pk").first()
    context: dict[str, Any] = {"enrichment": enrichment, **_run_status(run)}
    progress = context["progress"]
    try:
        since = parse_datetime(request.GET.get("since", ""))
    except ValueError:  # well formed but not a date, e.g. month 13
        since = None
    row_ids = parse_ids(request.GET.get("rows", "").split(","))
    if since is not None and row_ids:
        live_columns = list(
            Column.objects.filter(
                Q(pk=enrichment.pk) | Q(result_field__source=enrichment), hidden=False
            )
        )
        rows = [SimpleNamespace(pk=row_id, values={}) for row_id in row_ids[:LIVE_ROWS_MAX]]
        attach_computed_cells(rows=rows, columns=live_columns, since=since - LIVE_OVERLAP)
        context |= {
            "updated_rows": [row for row in rows if row.computed],
            "live_columns": live_columns,
            "computed_kinds": COMPUTED_KINDS,
        }
    response = render(request, "enrichment/progress_live.html", context)
    if request.htmx and (progress is None or not progress.run.is_active):
        # One last render, then stop: the grid refreshes itself to show the results.
        stopped = HttpResponseStopPolling(response.content)
        stopped["HX-Trigger"] = "enrichment-finished"
        return stopped
    return response


@require_POST
@workspace_required
def run_cancel_view(request: WorkspaceRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(
        Run.objects.select_related("column__column__table"),
        pk=run_id,
        column__column__table__workspace=request.workspace,
    )
    cancelled = run_cancel(run=run)
    if request.htmx:
        return render(
            request,
            "enrichment/column_status.html#progress",
            {"enrichment": run.column, **_run_status(run)},
        )
    messages.info(request, f"Run cancelled; {cancelled:,} cells had not finished.")
    return redirect("table_detail", table_id=run.column.column.table_id)


@workspace_required
def cell_detail(request: WorkspaceRequest, row_id: int, column_id: int) -> HttpResponse:
    """A cell's value as a JSON tree, its error in plain words, attempts, timing and the
    masked request/response, with "Add as column" on every field."""
    enrichment = _enrichment(request, column_id)
    row = get_object_or_404(
        Row.objects.select_related("table"), pk=row_id, table=enrichment.column.table
    )
    cell = CellResult.objects.filter(row=row, column=enrichment).select_related("run").first()
    template = "enrichment/cell_detail.html"
    if request.htmx:
        template += "#panel"
    return render(
        request,
        template,
        {"enrichment": enrichment, "row": row, "cell": cell, **_row_names(row)},
    )


def _row_names(row: Row) -> dict[str, Any]:
    """How the panel names its row: its number in the table's order and its first column's
    value (the first stored column, as the grid shows them)."""
    earlier = Q(position__lt=row.position) | Q(position=row.position, pk__lt=row.pk)
    number = visible_rows(table=row.table).filter(earlier).count() + 1
    first = (
        Column.objects.filter(table_id=row.table_id, hidden=False, import_job__isnull=True)
        .exclude(kind__in=COMPUTED_KINDS)
        .order_by("position", "pk")
        .first()
    )
    value = row.values.get(first.key) if first else None
    return {
        "row_number": number,
        "row_title": "" if value in (None, "") else str(value),
        "row_title_column": first.label if first else "",
    }


@require_POST
@workspace_required
def result_field_create(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    enrichment = _enrichment(request, column_id)
    try:
        field = result_field_add(
            source=enrichment,
            path=request.POST.get("path", ""),
            label=request.POST.get("label", ""),
        )
    except ConfigError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Column “{field.column.label}” added.")
    return _to_grid(request, enrichment.column.table)


@require_POST
@workspace_required
def table_auto_update(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """The table-wide auto-update switch (overrides every column's own)."""
    table = _table(request, table_id)
    enabled = request.POST.get("enabled") == "1"
    TableEnrichmentSettings.objects.update_or_create(table=table, defaults={"auto_update": enabled})
    messages.info(request, f"Auto-update is {'on' if enabled else 'off'} for this table.")
    return _to_grid(request, table)


@workspace_required
def account_columns_rerun(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    """After editing an account: run again every column that uses it, every row. GET says
    how many rows and requests that is and asks to confirm; POST queues the runs."""
    account = get_object_or_404(Account, pk=account_id, workspace=request.workspace)
    enrichments = list(
        EnrichmentColumn.objects.filter(column__account_uses__account=account)
        .distinct()
        .select_related("column__table")
        .order_by("column__table__name", "column__position", "pk")
    )
    if request.method != "POST":
        return _confirm(
            request,
            {
                "account": account,
                "estimates": [
                    run_estimate(enrichment=enrichment, force=True) for enrichment in enrichments
                ],
                "scope": Run.Scope.ALL,
                "force": True,
                "action": reverse("account_columns_rerun", args=[account.pk]),
                "back_url": reverse("account_detail", args=[account.pk]),
            },
        )
    with transaction.atomic():
        for enrichment in enrichments:
            run_queue(enrichment=enrichment, force=True, created_by=request.user)
    messages.success(
        request,
        f"Re-running {len(enrichments)} column{'s' if len(enrichments) != 1 else ''} "
        f"that use “{account.name}”.",
    )
    return redirect("account_detail", account_id=account.pk)


#: The settings panel of each kind of computed column (a test checks every kind has one).
PANELS: dict[str, Callable[[WorkspaceRequest, Table, EnrichmentColumn | None], HttpResponse]] = {
    "http_api": _http_panel,
    "formula": _formula_panel,
    "waterfall": _waterfall_panel,
}
