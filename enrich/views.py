"""Pages of the table domain: tables and the grid. Views parse input and call services."""

from __future__ import annotations

import json
from collections.abc import Mapping

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.decorators import workspace_required
from accounts.invitations import invitations_for
from accounts.request_types import EnrichRequest, WorkspaceRequest
from enrich import health, tables
from enrich.columns import columns_for_table
from enrich.computed import provider as computed_columns
from enrich.csv_import import import_jobs_in_progress
from enrich.filters import OPERATOR_LABELS, STATUSES, Condition, Group, operators_for
from enrich.forms import ColumnAddForm, ExportForm, TableDuplicateForm, TableForm
from enrich.grid import TAIL, GridQuery, grid_page, visible_rows
from enrich.kinds import COMPUTED_KINDS, TYPED_KINDS
from enrich.models import Table

TEMPLATE = "enrich/table_detail.html"


def table_for_request(request: WorkspaceRequest, table_id: int) -> Table:
    """The current workspace's table ``table_id``; another workspace's is a 404."""
    return get_object_or_404(Table, pk=table_id, workspace=request.workspace)


@workspace_required
def home(request: WorkspaceRequest) -> HttpResponse:
    """The workspace's tables, or a clear first step when there are none."""
    status = health.health_check()
    return render(
        request,
        "enrich/home.html",
        {
            "tables": tables.tables_for_workspace(workspace=request.workspace),
            "health": status,
            # Invitations to other workspaces wait here, where a signed-in user lands.
            "invitations": invitations_for(user=request.user),
        },
    )


@workspace_required
def table_create(request: WorkspaceRequest) -> HttpResponse:
    form = TableForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        table = tables.table_create(
            workspace=request.workspace, name=form.cleaned_data["name"], created_by=request.user
        )
        messages.success(request, f"Table “{table.name}” created.")
        return redirect("table_detail", table_id=table.pk)
    return render(request, "enrich/table_create.html", {"form": form})


@workspace_required
@vary_on_headers("HX-Request")
def table_detail(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """The grid. With htmx: the grid region (search, sort) or the next page of rows."""
    table = table_for_request(request, table_id)
    return render_grid(request, table, params=request.GET)


def render_grid(
    request: EnrichRequest,
    table: Table,
    *,
    params: Mapping[str, str],
    status: int = 200,
) -> HttpResponse:
    """The table page, or for htmx its ``grid`` region, or a ``grid-rows`` page after a cursor.

    Queries: the table (caller), its columns, the count (not for "load more") and one page.
    """
    columns = list(columns_for_table(table=table))
    visible = [column for column in columns if not column.hidden]
    query = GridQuery.from_params(dict(params.items()), columns=visible)
    # The whole region (first page, or the end after "+ Row") shows the count and run status;
    # "load more" only adds rows.
    whole_region = not query.cursor or query.cursor == TAIL
    page = grid_page(
        table=table,
        columns=visible,
        query=query,
        limit=settings.ENRICH_GRID_PAGE_SIZE,
        count=whole_region,
    )
    computed = computed_columns()
    computed.attach_cells(rows=page.rows, columns=visible)
    if whole_region:
        computed.attach_headers(columns=visible)
    template = TEMPLATE
    full_page = not request.htmx
    if not full_page:
        # "Load more" asks for the rows after a cursor; everything else for the whole region.
        template += "#grid-rows" if query.cursor and query.cursor != TAIL else "#grid"
    context = {
        "table": table,
        "columns": visible,
        "hidden_columns": [column for column in columns if column.hidden],
        "page": page,
        "query": query,
        "kinds": TYPED_KINDS,
        "column_form": ColumnAddForm(),
        "computed_kinds": COMPUTED_KINDS,
        # The filter builder: each column's operators, and the conditions applied now.
        "filter_columns": json.dumps(
            [
                {
                    "key": column.key,
                    "label": column.label,
                    "computed": column.kind in COMPUTED_KINDS and column.kind != "formula",
                    "operators": [[op, OPERATOR_LABELS[op]] for op in operators_for(column)],
                }
                for column in visible
            ]
        ),
        "filter_conditions": [
            condition for condition in query.filter.conditions if isinstance(condition, Condition)
        ],
        "statuses": STATUSES,
        "filter_grouped": any(isinstance(item, Group) for item in query.filter.conditions),
        **computed.toolbar(table=table, columns=columns),
    }
    if full_page:
        context["imports"] = list(import_jobs_in_progress(table=table))
        context["export_form"] = ExportForm()
        context["rename_form"] = TableForm(initial={"name": table.name})
    return render(request, template, context, status=status)


@workspace_required
@require_POST
def table_rename(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    table = table_for_request(request, table_id)
    form = TableForm(request.POST)
    if form.is_valid():
        tables.table_rename(table=table, name=form.cleaned_data["name"])
        messages.success(request, f"Renamed to “{table.name}”.")
    else:
        errors = form.errors.get("name", ["Give the table a name."])
        messages.error(request, " ".join(str(error) for error in errors))
    return redirect("table_detail", table_id=table.pk)


@workspace_required
def table_duplicate(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    table = table_for_request(request, table_id)
    form = TableDuplicateForm(request.POST or None, initial={"name": f"{table.name} (copy)"})
    if request.method == "POST" and form.is_valid():
        copy = tables.table_duplicate(
            table=table,
            name=form.cleaned_data["name"],
            with_rows=form.cleaned_data["with_rows"],
            created_by=request.user,
        )
        messages.success(request, f"“{copy.name}” is a copy of “{table.name}”.")
        return redirect("table_detail", table_id=copy.pk)
    return render(request, "enrich/table_duplicate.html", {"table": table, "form": form})


@workspace_required
def table_delete(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    table = table_for_request(request, table_id)
    if request.method == "POST":
        name = table.name
        tables.table_delete(table=table)
        messages.success(request, f"Table “{name}” deleted.")
        return redirect("home")
    row_count = visible_rows(table=table).count()
    return render(request, "enrich/table_delete.html", {"table": table, "row_count": row_count})


@login_not_required
@never_cache
def health_view(request: HttpRequest) -> JsonResponse:
    """For load balancers and compose health checks: 200 when the database answers."""
    status = health.health_check()
    return JsonResponse(
        {
            "database": "ok" if status.database_ok else "error",
            "worker": "ok" if status.worker_ok else "not seen recently",
            "worker_seen_at": status.worker_seen_at.isoformat() if status.worker_seen_at else None,
        },
        status=200 if status.database_ok else 503,
    )
