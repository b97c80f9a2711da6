"""Auto-update: a cell edit re-runs exactly the enrichment cells that read it.

Dependencies come from the templates' syntax trees (``EnrichmentColumn.dependencies``); a row
whose input hash did not change (the edit wrote the same value) is not run again.
"""

from __future__ import annotations

from collections.abc import Iterable

from enrich.enrichment.models import CellResult, EnrichmentColumn, Run, TableEnrichmentSettings
from enrich.enrichment.pipeline import input_hash
from enrich.enrichment.runs import run_queue
from enrich.models import Column, Row


def auto_update_enabled(*, table_id: int) -> bool:
    """The table-wide switch (on unless turned off)."""
    switch = TableEnrichmentSettings.objects.filter(table_id=table_id).first()
    return switch is None or switch.auto_update


def cells_changed(*, row: Row, column_keys: Iterable[str]) -> list[Run]:
    """Queue the enrichment cells of ``row`` that read any of ``column_keys`` and whose inputs
    really changed. Call inside the edit's transaction: runs start after it commits."""
    changed = set(column_keys)
    if not changed or not auto_update_enabled(table_id=row.table_id):
        return []
    candidates = [
        enrichment
        for enrichment in EnrichmentColumn.objects.filter(
            column__table_id=row.table_id, auto_update=True
        ).select_related("account", "column")
        if changed & set(enrichment.dependencies)
    ]
    if not candidates:
        return []
    hashes = dict(
        CellResult.objects.filter(row=row, column__in=candidates).values_list(
            "column_id", "input_hash"
        )
    )
    return [
        run_queue(enrichment=enrichment, scope=Run.Scope.ROWS, row_ids=[row.pk])
        for enrichment in candidates
        if hashes.get(enrichment.pk) != input_hash(enrichment=enrichment, row=row)
    ]


def on_cell_written(*, row: Row, column: Column, **_: object) -> None:
    """``enrich.signals.cell_written`` receiver: a user edit re-runs the cells that read it."""
    cells_changed(row=row, column_keys={column.key})
