"""Auto-update: a change re-computes exactly the computed cells downstream of it, in
dependency order, once each.

A change is a user's edit of a cell, or an enrichment cell written by a worker. ``propagate``
walks the table's computed columns after the changed ones (``dependencies.ComputedGraph``):
a formula is computed at once and, when its value changed, counts as changed in turn; a field
column changes with its source; an enrichment with auto-update on is queued for the row when
its inputs changed (its input hash), and propagates again from its own column once its cell is
written. A row whose inputs did not change is not run again.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from enrich.enrichment.dependencies import cached_graph
from enrich.enrichment.formulas import column_keys, compute, formulas_of, write_cells
from enrich.enrichment.grid import computed_row_values
from enrich.enrichment.models import CellResult, EnrichmentColumn, Run, TableEnrichmentSettings
from enrich.enrichment.pipeline import input_hash
from enrich.enrichment.runs import run_queue
from enrich.models import Column, ColumnKind, Row, Table


def auto_update_enabled(*, table_id: int) -> bool:
    """The table-wide switch (on unless turned off)."""
    switch = TableEnrichmentSettings.objects.filter(table_id=table_id).first()
    return switch is None or switch.auto_update


@transaction.atomic
def propagate(*, row: Row, changed: Iterable[str]) -> list[Run]:
    """Recompute the formulas downstream of ``changed`` in ``row`` and queue the enrichment
    cells downstream whose inputs changed. Call inside the change's transaction: the runs
    start after it commits. Returns the runs queued."""
    changed = set(changed)
    graph = cached_graph(table_id=row.table_id)
    reached = graph.downstream(changed)
    if not reached:
        return []
    formulas = {cell.key: cell for cell in formulas_of(table_id=row.table_id, graph=graph)}
    # Computed from the row as it is now, locked until the change commits: two edits of cells
    # a formula reads, or an edit and a worker's result, never leave it computed from old
    # values (each waits for the other and reads what it wrote).
    row = Row.objects.select_for_update().only("id", "table_id", "values").get(pk=row.pk)
    reads = {key for node in reached for key in node.reads if key in graph.nodes}
    computed = {
        key: value
        for key, value in computed_row_values(row=row, keys=reads).items()
        if graph.nodes[key].kind != ColumnKind.FORMULA
    }
    columns = column_keys(table_id=row.table_id, graph=graph)
    written: dict[str, object] = {}
    errors: dict[str, str] = {}
    computed_formulas = []
    candidates = []
    for node in reached:
        if not node.reads & changed:
            continue
        if node.kind == ColumnKind.FORMULA and node.key in formulas:
            cell = formulas[node.key]
            before = row.values.get(node.key)
            values = {**row.values, **computed}
            errors.update(compute(values, [cell], columns))
            after = values.get(node.key)
            computed_formulas.append(cell)
            if after is None:
                row.values.pop(node.key, None)
            else:
                row.values[node.key] = after
            if after != before or type(after) is not type(before) or node.key in errors:
                written[node.key] = after
                changed.add(node.key)
        elif node.kind == ColumnKind.RESULT_FIELD:
            changed.add(node.key)
        elif node.kind == ColumnKind.ENRICHMENT and node.auto_update:
            candidates.append(node.column_id)
    if computed_formulas:
        write_cells(
            row=row,
            changed={key: value for key, value in written.items()},
            errors=errors,
            formulas=computed_formulas,
        )
    return _queue_changed(row=row, enrichment_ids=candidates)


def _queue_changed(*, row: Row, enrichment_ids: list[int]) -> list[Run]:
    if not enrichment_ids or not auto_update_enabled(table_id=row.table_id):
        return []
    enrichments = list(
        EnrichmentColumn.objects.filter(pk__in=enrichment_ids).select_related("account", "column")
    )
    hashes = dict(
        CellResult.objects.filter(row_id=row.pk, column__in=enrichments).values_list(
            "column_id", "input_hash"
        )
    )
    return [
        run_queue(enrichment=enrichment, scope=Run.Scope.ROWS, row_ids=[row.pk])
        for enrichment in enrichments
        if hashes.get(enrichment.pk) != input_hash(enrichment=enrichment, row=row)
    ]


def cells_changed(*, row: Row, column_keys: Iterable[str]) -> list[Run]:
    """``propagate`` for a user's edit of ``column_keys`` (the grid, the API)."""
    return propagate(row=row, changed=column_keys)


def on_cell_written(*, row: Row, column: Column, **_: object) -> None:
    """``enrich.signals.cell_written`` receiver: a user edit recomputes what reads it."""
    propagate(row=row, changed={column.key})


def on_cells_written(*, table: Table, changes: dict[int, set[str]], **_: object) -> None:
    """``enrich.signals.cells_written`` receiver: a paste, a clear or an undo recomputes
    what reads the cells it wrote, once for each row."""
    for row_id, keys in changes.items():
        propagate(row=Row(pk=row_id, table_id=table.pk), changed=keys)
