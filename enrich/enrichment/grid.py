"""What the grid and the CSV export read of enrichment columns: one query per page or chunk.

An enrichment column's cell is its ``CellResult`` (status, value, error); a result field
column's cell is one path of its source column's value, read each time so it stays current.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from connectors.filtering import read_path
from enrich.enrichment.models import CellResult, ResultField
from enrich.models import Column, ColumnKind, Row

COMPUTED_KINDS = frozenset({ColumnKind.ENRICHMENT, ColumnKind.RESULT_FIELD})


@dataclass(frozen=True)
class ComputedCell:
    """One computed cell as the grid shows it; ``source_id`` is the enrichment column whose
    detail panel the cell opens."""

    status: str
    value: Any
    error: str
    source_id: int


@dataclass(frozen=True)
class _Plan:
    enrichment_ids: frozenset[int]
    fields: dict[int, tuple[int, tuple[str, ...]]]  # result field column -> (source, path)

    @property
    def source_ids(self) -> set[int]:
        return set(self.enrichment_ids) | {source for source, _ in self.fields.values()}


def _plan(columns: Sequence[Column]) -> _Plan | None:
    computed = [column for column in columns if column.kind in COMPUTED_KINDS]
    if not computed:
        return None
    field_ids = [column.pk for column in computed if column.kind == ColumnKind.RESULT_FIELD]
    fields = {
        column_id: (source_id, tuple(path.split(".")))
        for column_id, source_id, path in ResultField.objects.filter(
            column_id__in=field_ids
        ).values_list("column_id", "source_id", "path")
    }
    enrichments = frozenset(c.pk for c in computed if c.kind == ColumnKind.ENRICHMENT)
    return _Plan(enrichment_ids=enrichments, fields=fields)


def _results(
    plan: _Plan, row_ids: Iterable[int], *, since: datetime | None = None
) -> dict[tuple[int, int], tuple[str, Any, str]]:
    cells = CellResult.objects.filter(row_id__in=list(row_ids), column_id__in=plan.source_ids)
    if since is not None:
        cells = cells.filter(
            Q(queued_at__gt=since) | Q(started_at__gt=since) | Q(finished_at__gt=since)
        )
    return {
        (row_id, column_id): (status, value, error)
        for row_id, column_id, status, value, error in cells.values_list(
            "row_id", "column_id", "status", "value", "error"
        )
    }


def _cells(
    plan: _Plan, row_ids: Sequence[int], *, since: datetime | None = None
) -> dict[int, dict[int, ComputedCell]]:
    results = _results(plan, row_ids, since=since)
    cells: dict[int, dict[int, ComputedCell]] = {}
    for row_id in row_ids:
        row_cells = cells.setdefault(row_id, {})
        for column_id in plan.enrichment_ids:
            found = results.get((row_id, column_id))
            if found is not None:
                row_cells[column_id] = ComputedCell(*found, source_id=column_id)
        for column_id, (source_id, path) in plan.fields.items():
            found = results.get((row_id, source_id))
            if found is not None:
                status, value, error = found
                shown = read_path(value, path) if status == CellResult.Status.DONE else None
                row_cells[column_id] = ComputedCell(status, shown, error, source_id=source_id)
    return cells


def attach_computed_cells(
    *, rows: Sequence[Any], columns: Sequence[Column], since: datetime | None = None
) -> None:
    """Give each row ``row.computed``: ``{column id: ComputedCell}`` for the computed columns
    among ``columns`` (what the grid's ``cell_view`` shows), read in one query.

    With ``since``, only the cells whose result changed after it (for live updates)."""
    plan = _plan(columns)
    cells = _cells(plan, [row.pk for row in rows], since=since) if plan and rows else {}
    for row in rows:
        row.computed = cells.get(row.pk, {})


def computed_row_values(*, row: Row, keys: Iterable[str]) -> dict[str, Any]:
    """The finished values of ``row``'s computed columns among ``keys``, by column key (what a
    template reads as ``row.<key>``); a cell not done reads as None, like a blank cell."""
    columns = list(
        Column.objects.filter(table_id=row.table_id, key__in=list(keys), kind__in=COMPUTED_KINDS)
    )
    plan = _plan(columns)
    if plan is None:
        return {}
    cells = _cells(plan, [row.pk]).get(row.pk, {})
    return {
        column.key: cell.value
        for column in columns
        if (cell := cells.get(column.pk)) is not None and cell.status == CellResult.Status.DONE
    }


def export_values(
    *, rows: Iterable[tuple[int, dict[str, Any]]], columns: Sequence[Column], chunk_size: int
) -> Iterator[dict[str, Any]]:
    """Each row's ``values`` with its computed columns' finished values added by key (None
    for a cell in error, skipped or not run), reading the results a chunk of rows at a time."""
    plan = _plan(columns)
    computed = [column for column in columns if column.kind in COMPUTED_KINDS]
    pending = iter(rows)
    while chunk := list(itertools.islice(pending, chunk_size)):
        cells = _cells(plan, [row_id for row_id, _ in chunk]) if plan else {}
        for row_id, values in chunk:
            for column in computed:
                cell = cells.get(row_id, {}).get(column.pk)
                done = cell is not None and cell.status == CellResult.Status.DONE
                values[column.key] = cell.value if done else None
            yield values


def attach_run_progress(*, columns: Sequence[Column]) -> None:
    """Give each enrichment column among ``columns`` its newest run as the grid's header shows
    it: ``column.progress`` while the run is active, else ``column.run_summary`` (counts,
    duration, requests) until the next run starts; None when the column never ran."""
    from enrich.enrichment.run_stats import latest_runs, run_summaries
    from enrich.enrichment.runs import run_progress

    enrichments = [column for column in columns if column.kind == ColumnKind.ENRICHMENT]
    if not enrichments:
        return
    runs = latest_runs(column_ids=[column.pk for column in enrichments])
    progress = {run.pk: run_progress(run=run) for run in runs.values() if run.is_active}
    summaries = run_summaries(runs=[run for run in runs.values() if not run.is_active])
    for column in enrichments:
        run = runs.get(column.pk)
        column.progress = progress.get(run.pk) if run and run.is_active else None  # type: ignore[attr-defined]
        column.run_summary = summaries.get(run.pk) if run else None  # type: ignore[attr-defined]
