"""Grid actions: columns, rows and cells. Each answers htmx with the fragment it changed and a
plain POST with a redirect to the table, so the page works without JavaScript too."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import workspace_required
from accounts.request_types import WorkspaceRequest
from enrich import columns as column_services
from enrich import rows as row_services
from enrich.cell_writes import cell_edit_record
from enrich.computed import provider as computed_columns
from enrich.exceptions import TableError
from enrich.forms import (
    CellForm,
    ColumnAddForm,
    ColumnHideForm,
    ColumnKindForm,
    ColumnMoveForm,
    ColumnRenameForm,
    ColumnReorderForm,
    RowDeleteForm,
)
from enrich.grid import TAIL, visible_rows
from enrich.kinds import COMPUTED_KINDS
from enrich.models import Column, Row, Table
from enrich.views import render_grid, table_for_request


def _column_for_request(request: WorkspaceRequest, column_id: int) -> Column:
    return get_object_or_404(
        Column.objects.select_related("table"),
        pk=column_id,
        table__workspace=request.workspace,
        import_job__isnull=True,
    )


def _grid_after_change(
    request: WorkspaceRequest, table: Table, *, cursor: str = "", keep_view: bool = True
) -> HttpResponse:
    """The refreshed grid for htmx (keeping the search and sort), else back to the table."""
    if request.htmx:
        params = {}
        if keep_view:
            params = {name: request.POST.get(name, "") for name in ("sort", "q", "filter")}
        if cursor:
            params["after"] = cursor
        response = render_grid(request, table, params=params)
        response["HX-Retarget"] = "#grid"
        response["HX-Reswap"] = "outerHTML"
        return response
    return redirect("table_detail", table_id=table.pk)


def _form_errors(request: HttpRequest, form: forms.BaseForm) -> None:
    for errors in form.errors.values():
        for error in errors:
            # An ErrorList yields each error's message; its stub says ValidationError too.
            messages.error(request, str(error))


@workspace_required
@require_POST
def column_add(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    table = table_for_request(request, table_id)
    form = ColumnAddForm(request.POST)
    if form.is_valid():
        try:
            column = column_services.column_add(
                table=table, label=form.cleaned_data["label"], kind=form.cleaned_data["kind"]
            )
        except TableError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Column “{column.label}” added (key {column.key}).")
    else:
        _form_errors(request, form)
    return _grid_after_change(request, table)


@workspace_required
@require_POST
def column_rename(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    column = _column_for_request(request, column_id)
    form = ColumnRenameForm(request.POST)
    if form.is_valid():
        try:
            column_services.column_rename(column=column, label=form.cleaned_data["label"])
        except TableError as error:
            messages.error(request, str(error))
    else:
        _form_errors(request, form)
    return _grid_after_change(request, column.table)


@workspace_required
@require_POST
def column_kind(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    column = _column_for_request(request, column_id)
    form = ColumnKindForm(request.POST)
    if form.is_valid():
        try:
            change = column_services.column_change_kind(
                column=column, kind=form.cleaned_data["kind"]
            )
        except TableError as refused:
            messages.error(request, f"{column.label}: {refused}")
        else:
            level = messages.WARNING if change.kept else messages.SUCCESS
            messages.add_message(
                request,
                level,
                f"“{column.label}” is now {column.get_kind_display()}. {change.message}",
            )
    else:
        _form_errors(request, form)
    return _grid_after_change(request, column.table)


@workspace_required
@require_POST
def column_move(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    column = _column_for_request(request, column_id)
    form = ColumnMoveForm(request.POST)
    if form.is_valid():
        column_services.column_move(column=column, offset=form.cleaned_data["offset"])
    else:
        _form_errors(request, form)
    return _grid_after_change(request, column.table)


@workspace_required
@require_POST
def columns_reorder(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    table = table_for_request(request, table_id)
    form = ColumnReorderForm(request.POST)
    if form.is_valid():
        column_services.columns_reorder(table=table, keys=form.cleaned_data["keys"])
    else:
        _form_errors(request, form)
    return _grid_after_change(request, table)


@workspace_required
@require_POST
def column_hide(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    column = _column_for_request(request, column_id)
    form = ColumnHideForm(request.POST)
    if form.is_valid():
        column_services.column_set_hidden(column=column, hidden=form.cleaned_data["hidden"])
    return _grid_after_change(request, column.table)


@workspace_required
@require_POST
def column_delete(request: WorkspaceRequest, column_id: int) -> HttpResponse:
    column = _column_for_request(request, column_id)
    try:
        column_services.column_delete(column=column)
    except TableError as refused:  # computed columns read it
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Column “{column.label}” and its values deleted.")
    return _grid_after_change(request, column.table)


@workspace_required
@require_POST
def row_add(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """Append a row and show the end of the table with it, ready to type into."""
    table = table_for_request(request, table_id)
    row_services.row_add(table=table)
    if request.POST.get("sort") or request.POST.get("q"):
        messages.info(request, "Row added at the end of the table; sort and search are cleared.")
    return _grid_after_change(request, table, cursor=TAIL, keep_view=False)


@workspace_required
@require_POST
def rows_delete(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    table = table_for_request(request, table_id)
    form = RowDeleteForm(request.POST)
    if form.is_valid():
        deleted = row_services.rows_delete(table=table, row_ids=form.cleaned_data["rows"])
        messages.success(request, f"{deleted:,} row{'s' if deleted != 1 else ''} deleted.")
    else:
        _form_errors(request, form)
    return _grid_after_change(request, table)


@workspace_required
@require_POST
def cell_update(request: WorkspaceRequest, row_id: int, column_id: int) -> HttpResponse:
    """Write one cell; answers with the cell, showing the error and the old value if refused."""
    row = get_object_or_404(
        Row.objects.select_related("table"),
        pk=row_id,
        table__workspace=request.workspace,
    )
    # A row of an import still running is not there yet for the user.
    if not visible_rows(table=row.table).filter(pk=row.pk).exists():
        raise Http404
    column = get_object_or_404(Column, pk=column_id, table_id=row.table_id, import_job__isnull=True)
    form = CellForm(request.POST)
    error = ""
    if form.is_valid():
        before = row.values.get(column.key)
        try:
            after = row_services.row_set_value(
                row=row, column=column, raw=form.cleaned_data["value"]
            )
        except TableError as refused:
            error = str(refused)
        else:
            cell_edit_record(
                table=row.table,
                user=request.user,
                row_id=row.pk,
                key=column.key,
                before=before,
                after=after,
            )
    else:
        error = " ".join(str(message) for errors in form.errors.values() for message in errors)
    if not request.htmx:
        if error:
            messages.error(request, f"{column.label}: {error}")
        return redirect("table_detail", table_id=row.table_id)
    context = {
        "row": row,
        "column": column,
        "error": error,
        "table": row.table,
        "computed_kinds": COMPUTED_KINDS,
    }
    if not error:
        # What the edit set off in this row (formulas computed, enrichments queued) is shown
        # at once: the row's computed cells come along as out-of-band swaps.
        computed = [
            other
            for other in column_services.columns_for_table(table=row.table)
            if other.kind in COMPUTED_KINDS and not other.hidden
        ]
        if computed:
            row.refresh_from_db(fields=["values"])
            computed_columns().attach_cells(rows=[row], columns=computed)
            context["computed_columns"] = computed
    return render(request, "enrich/_cell_update.html", context)
