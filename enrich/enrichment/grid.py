"""What the grid and the CSV export read of enrichment columns: one query per page or chunk.

An enrichment column's cell is its ``CellResult`` (status, value, error); a result field
column's cell is one path of its source column's value, read each time so it stays current.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from connectors.filtering import get_path
from enrich.enrichment.models import CellResult, ResultField
from enrich.models import Column, ColumnKind

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


def computed_cells(
    *, rows: Sequence[Any], columns: Sequence[Column], since: datetime | None = None
) -> dict[int, dict[int, ComputedCell]]:
    """``{row id: {column id: ComputedCell}}`` for the computed columns among ``columns``.

    With ``since``, only the cells whose result changed after it (for live updates)."""
    plan = _plan(columns)
    if plan is None or not rows:
        return {}
    results = _results(plan, (row.pk for row in rows), since=since)
    cells: dict[int, dict[int, ComputedCell]] = {}
    for row in rows:
        row_cells = cells.setdefault(row.pk, {})
        for column_id in plan.enrichment_ids:
            found = results.get((row.pk, column_id))
            if found is not None:
                row_cells[column_id] = ComputedCell(*found, source_id=column_id)
        for column_id, (source_id, path) in plan.fields.items():
            found = results.get((row.pk, source_id))
            if found is not None:
                status, value, error = found
                shown = get_path(value, path) if status == CellResult.Status.DONE else None
                row_cells[column_id] = ComputedCell(status, shown, error, source_id=source_id)
    return cells


def export_values(
    *, rows: Iterable[tuple[int, dict[str, Any]]], columns: Sequence[Column]
) -> Iterable[dict[str, Any]]:
    """Each row's ``values`` with its computed columns' finished values added by key."""
    plan = _plan(columns)
    keys = {column.pk: column.key for column in columns}
    chunk: list[tuple[int, dict[str, Any]]] = []

    def flush() -> Iterable[dict[str, Any]]:
        done = CellResult.Status.DONE
        results = _results(plan, (row_id for row_id, _ in chunk)) if plan else {}
        for row_id, values in chunk:
            if plan:
                for column_id in plan.enrichment_ids:
                    status, value, _ = results.get((row_id, column_id), ("", None, ""))
                    values[keys[column_id]] = value if status == done else None
                for column_id, (source_id, path) in plan.fields.items():
                    status, value, _ = results.get((row_id, source_id), ("", None, ""))
                    values[keys[column_id]] = get_path(value, path) if status == done else None
            yield values

    for row in rows:
        chunk.append(row)
        if len(chunk) >= EXPORT_RESULTS_CHUNK:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


EXPORT_RESULTS_CHUNK = 2000


def attach_run_progress(*, columns: Sequence[Column]) -> None:
    """Give each enrichment column among ``columns`` its active run's progress as
    ``column.progress`` (None when nothing runs), for the grid's header."""
    from enrich.enrichment.runs import active_runs, run_progress

    enrichments = [column for column in columns if column.kind == ColumnKind.ENRICHMENT]
    if not enrichments:
        return
    runs = active_runs(column_ids=[column.pk for column in enrichments])
    for column in enrichments:
        run = runs.get(column.pk)
        column.progress = run_progress(run=run) if run else None  # type: ignore[attr-defined]
