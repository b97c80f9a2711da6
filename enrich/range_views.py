"""The grid's range actions: paste, clear, fill down, undo and redo. Views parse the range
the grid sends (row ids in the order it shows them, column keys left to right) and call the
services of ``enrich.cell_writes``; they answer with the rows that changed, swapped in place,
and a line saying what happened."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.decorators import workspace_required
from accounts.object_ids import parse_ids
from accounts.request_types import WorkspaceRequest
from enrich.cell_writes import (
    CellWrite,
    WriteOutcome,
    action_redo,
    action_undo,
    cells_write,
    parse_tsv,
)
from enrich.columns import columns_for_table
from enrich.computed import provider as computed_columns
from enrich.exceptions import TableError
from enrich.grid import visible_rows
from enrich.kinds import COMPUTED_KINDS, kind_for
from enrich.models import GridAction, Row, Table
from enrich.views import table_for_request


def _range(request: WorkspaceRequest, table: Table) -> tuple[list[int], list[str]]:
    """The rows (ids, in the grid's order) and columns (keys, left to right) of the range."""
    row_ids = parse_ids(request.POST.get("rows", "").split(","))
    known = set(columns_for_table(table=table).values_list("key", flat=True))
    keys = [key for key in request.POST.get("columns", "").split(",") if key in known]
    return row_ids, keys


@workspace_required
@require_POST
def cells_paste(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """Paste tab-separated text from the anchor cell down and to the right; lines past the
    last row append rows (asking first above ``ENRICH_PASTE_CONFIRM_ROWS``)."""
    table = table_for_request(request, table_id)
    row_ids, keys = _range(request, table)
    lines = parse_tsv(request.POST.get("text", ""))
    if not lines or not keys:
        messages.info(request, "There was nothing to paste.")
        return _answer(request, table, WriteOutcome())
    at_end = request.POST.get("end") == "1"
    writes = [
        CellWrite(row_id, key, raw)
        for row_id, line in zip(row_ids, lines, strict=False)
        for key, raw in zip(keys, line, strict=False)
    ]
    extra = lines[len(row_ids) :] if at_end else []
    if len(extra) > settings.ENRICH_PASTE_CONFIRM_ROWS and request.POST.get("confirm") != "1":
        response = render(
            request,
            "enrich/_paste_confirm.html",
            {"table": table, "rows": len(extra), "post": request.POST},
        )
        response["HX-Retarget"] = "#confirm-dialog"
        response["HX-Reswap"] = "innerHTML"
        return response
    new_rows = [dict(zip(keys, line, strict=False)) for line in extra]
    try:
        outcome = cells_write(table=table, user=request.user, writes=writes, new_rows=new_rows)
    except TableError as refused:
        messages.error(request, str(refused))
        return _answer(request, table, WriteOutcome())
    left = len(lines) - len(row_ids) if not at_end and len(lines) > len(row_ids) else 0
    wide = max(len(line) for line in lines) - len(keys)
    _say(request, outcome, "Pasted", left_rows=left, left_columns=max(0, wide))
    return _answer(request, table, outcome)


@workspace_required
@require_POST
def cells_clear(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """Delete or Backspace on a range: every typed cell of it made blank, as one change."""
    table = table_for_request(request, table_id)
    row_ids, keys = _range(request, table)
    writes = [CellWrite(row_id, key, "") for row_id in row_ids for key in keys]
    return _write(request, table, writes, kind=GridAction.Kind.CLEAR, verb="Cleared")


@workspace_required
@require_POST
def cells_fill(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """Ctrl+D: the first row of the range copied into the rows below it, column by column."""
    table = table_for_request(request, table_id)
    row_ids, keys = _range(request, table)
    if len(row_ids) < 2:
        messages.info(request, "Select the cells to fill, the value to copy at the top.")
        return _answer(request, table, WriteOutcome())
    first = visible_rows(table=table).filter(pk=row_ids[0]).values_list("values", flat=True)
    source = first.first() or {}
    columns = {column.key: column for column in columns_for_table(table=table)}
    texts = {key: kind_for(columns[key].kind).to_text(source.get(key)) for key in keys}
    writes = [CellWrite(row_id, key, texts[key]) for row_id in row_ids[1:] for key in keys]
    return _write(request, table, writes, kind=GridAction.Kind.FILL, verb="Filled")


@workspace_required
@require_POST
def action_undo_view(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """Ctrl+Z: undo this user's last change to the table."""
    return _undo_or_redo(request, table_id, undo=True)


@workspace_required
@require_POST
def action_redo_view(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """Ctrl+Shift+Z or Ctrl+Y: redo the change undone last."""
    return _undo_or_redo(request, table_id, undo=False)


def _undo_or_redo(request: WorkspaceRequest, table_id: int, *, undo: bool) -> HttpResponse:
    table = table_for_request(request, table_id)
    step = action_undo if undo else action_redo
    outcome = step(table=table, user=request.user)
    if outcome is None:
        messages.info(request, f"Nothing to {'undo' if undo else 'redo'}.")
        return _answer(request, table, WriteOutcome())
    assert outcome.action is not None
    done = "Undid" if undo else "Redid"
    _say(request, outcome, f"{done} the {outcome.action.get_kind_display().lower()}:")
    return _answer(request, table, outcome)


def _write(
    request: WorkspaceRequest, table: Table, writes: Sequence[CellWrite], *, kind: str, verb: str
) -> HttpResponse:
    try:
        outcome = cells_write(table=table, user=request.user, writes=writes, kind=kind)
    except TableError as refused:
        messages.error(request, str(refused))
        return _answer(request, table, WriteOutcome())
    _say(request, outcome, verb)
    return _answer(request, table, outcome)


def _say(
    request: WorkspaceRequest,
    outcome: WriteOutcome,
    verb: str,
    *,
    left_rows: int = 0,
    left_columns: int = 0,
) -> None:
    """One line of what the change did, and what it left (refused values, computed columns,
    cells someone changed since)."""
    parts = [f"{verb} {outcome.written:,} cell{'s' if outcome.written != 1 else ''}"]
    if outcome.rows_added:
        count = len(outcome.rows_added)
        parts.append(f"added {count:,} row{'s' if count != 1 else ''} at the end")
    if outcome.refused:
        _, key, why = outcome.refused[0]
        more = f" (and {len(outcome.refused) - 1:,} more)" if len(outcome.refused) > 1 else ""
        parts.append(
            f"kept {len(outcome.refused):,} that did not fit their column: {key}: {why}{more}"
        )
    if outcome.skipped:
        names = ", ".join(f"“{label}”" for label in outcome.skipped)
        parts.append(f"left {names} alone (computed)")
    if outcome.conflicts:
        parts.append(
            f"left {outcome.conflicts:,} cell{'s' if outcome.conflicts != 1 else ''} that "
            "someone changed since"
        )
    if left_rows:
        lines = f"{left_rows:,} line{'s' if left_rows != 1 else ''}"
        parts.append(f"{lines} past the loaded rows were not pasted")
    if left_columns:
        columns = f"{left_columns:,} column{'s' if left_columns != 1 else ''}"
        parts.append(f"{columns} past the last were not pasted")
    level = messages.WARNING if (outcome.refused or outcome.conflicts) else messages.SUCCESS
    messages.add_message(request, level, "; ".join(parts) + ".")


def _answer(request: WorkspaceRequest, table: Table, outcome: WriteOutcome) -> HttpResponse:
    """The changed rows the grid shows, swapped in place, and the message; rows appended at
    the end come with the end of the table."""
    columns = [column for column in columns_for_table(table=table) if not column.hidden]
    touched = sorted(outcome.rows_touched - set(outcome.rows_added))
    rows = list(Row.objects.filter(pk__in=touched, table=table))
    computed_columns().attach_cells(rows=rows, columns=columns)
    response = render(
        request,
        "enrich/_rows_changed.html",
        {
            "table": table,
            "rows": rows,
            "columns": columns,
            "computed_kinds": COMPUTED_KINDS,
        },
    )
    if outcome.rows_added:
        # Rows appended at the end: the grid shows the end of the table, with them.
        response["HX-Trigger"] = "grid-show-end"
    return response
