"""What the grid and the CSV export read of computed columns: one query per page or chunk.

An enrichment column's cell is its ``CellResult`` (status, value, error); a result field
column's cell is one path of its source column's value, read each time so it stays current;
a formula's cell is its value in the row, or its error (a ``CellResult``) when it failed.
``ComputedCells`` is what the table core asks (``enrich.computed``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Q

if TYPE_CHECKING:
    from enrich.filters import Condition

from connectors.filtering import read_path
from enrich.enrichment.models import CellResult, EnrichmentColumn, ResultField
from enrich.kinds import COMPUTED_KINDS
from enrich.models import Column, ColumnKind, Row, Table


@dataclass(frozen=True)
class ComputedCell:
    """One computed cell as the grid shows it; ``source_id`` is the computed column whose
    detail panel the cell opens; ``shown_as`` a typed kind to show the value as (formulas)."""

    status: str
    value: Any
    error: str
    source_id: int
    shown_as: str = ""


@dataclass(frozen=True)
class _Plan:
    enrichment_ids: frozenset[int]
    fields: dict[int, tuple[int, tuple[str, ...]]]  # result field column -> (source, path)
    formulas: dict[int, tuple[str, str]]  # formula column -> (key, shown as)

    @property
    def source_ids(self) -> set[int]:
        sources = {source for source, _ in self.fields.values()}
        return set(self.enrichment_ids) | sources | set(self.formulas)


def _plan(columns: Sequence[Column]) -> _Plan | None:
    from enrich.enrichment.kinds.formula import SHOWN_AS

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
    formula_columns = {c.pk: c.key for c in computed if c.kind == ColumnKind.FORMULA}
    formulas = (
        {
            column_id: (formula_columns[column_id], SHOWN_AS.get(config.get("output", "auto"), ""))
            for column_id, config in EnrichmentColumn.objects.filter(
                pk__in=list(formula_columns)
            ).values_list("pk", "config")
        }
        if formula_columns
        else {}
    )
    enrichments = frozenset(c.pk for c in computed if c.kind == ColumnKind.ENRICHMENT)
    return _Plan(enrichment_ids=enrichments, fields=fields, formulas=formulas)


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
    plan: _Plan,
    values_by_row: Mapping[int, Mapping[str, Any]],
    *,
    since: datetime | None = None,
) -> dict[int, dict[int, ComputedCell]]:
    """The computed cells of these rows (``values_by_row``: row id → its stored values). With
    ``since``, only cells that changed after it; formulas of rows where anything did."""
    results = _results(plan, values_by_row, since=since)
    touched = {row_id for row_id, _ in results}
    cells: dict[int, dict[int, ComputedCell]] = {}
    for row_id, values in values_by_row.items():
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
        if since is not None and row_id not in touched:
            continue
        for column_id, (key, shown_as) in plan.formulas.items():
            failed = results.get((row_id, column_id))
            if failed is not None and failed[0] == CellResult.Status.ERROR:
                row_cells[column_id] = ComputedCell(*failed, source_id=column_id, shown_as=shown_as)
            else:
                row_cells[column_id] = ComputedCell(
                    CellResult.Status.DONE, values.get(key), "", column_id, shown_as
                )
    return cells


def attach_computed_cells(
    *, rows: Sequence[Any], columns: Sequence[Column], since: datetime | None = None
) -> None:
    """Give each row ``row.computed``: ``{column id: ComputedCell}`` for the computed columns
    among ``columns`` (what the grid's ``cell_view`` shows), read in one query.

    With ``since``, only the cells whose result changed after it (for live updates)."""
    plan = _plan(columns)
    values = {row.pk: row.values for row in rows}
    cells = _cells(plan, values, since=since) if plan and rows else {}
    for row in rows:
        row.computed = cells.get(row.pk, {})


def computed_values_by_row(
    *, table_id: int, row_ids: Sequence[int], keys: Iterable[str]
) -> dict[int, dict[str, Any]]:
    """The finished values of the enrichment and field columns among ``keys`` for these rows,
    by row id and column key (what a template reads as ``row.<key>``); a cell not done is
    left out, so it reads as blank."""
    columns = list(
        Column.objects.filter(
            table_id=table_id,
            key__in=list(keys),
            kind__in=[ColumnKind.ENRICHMENT, ColumnKind.RESULT_FIELD],
        )
    )
    plan = _plan(columns)
    if plan is None or not row_ids:
        return {}
    cells = _cells(plan, {row_id: {} for row_id in row_ids})
    return {
        row_id: {
            column.key: cell.value
            for column in columns
            if (cell := row_cells.get(column.pk)) is not None
            and cell.status == CellResult.Status.DONE
        }
        for row_id, row_cells in cells.items()
    }


def computed_row_values(*, row: Row, keys: Iterable[str]) -> dict[str, Any]:
    """``computed_values_by_row`` for one row."""
    return computed_values_by_row(table_id=row.table_id, row_ids=[row.pk], keys=keys).get(
        row.pk, {}
    )


def export_values(
    *, rows: Iterable[tuple[int, dict[str, Any]]], columns: Sequence[Column], chunk_size: int
) -> Iterator[dict[str, Any]]:
    """Each row's ``values`` with its computed columns' finished values added by key (None
    for a cell in error, skipped or not run), reading the results a chunk of rows at a time."""
    plan = _plan(columns)
    computed = [column for column in columns if column.kind in COMPUTED_KINDS]
    pending = iter(rows)
    while chunk := list(itertools.islice(pending, chunk_size)):
        cells = _cells(plan, dict(chunk)) if plan else {}
        for row_id, values in chunk:
            for column in computed:
                cell = cells.get(row_id, {}).get(column.pk)
                values[column.key] = (
                    cell.value
                    if cell is not None and cell.status == CellResult.Status.DONE
                    else None
                )
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
        column.progress = progress.get(run.pk) if run and run.is_active else None
        column.run_summary = summaries.get(run.pk) if run else None


class ComputedCells:
    """The enrichment app's answers to the table core (see ``enrich.computed``)."""

    def attach_cells(
        self, *, rows: Sequence[Any], columns: Sequence[Column], since: datetime | None = None
    ) -> None:
        attach_computed_cells(rows=rows, columns=columns, since=since)

    def attach_headers(self, *, columns: Sequence[Column]) -> None:
        attach_run_progress(columns=columns)

    def toolbar(self, *, table: Table, columns: Sequence[Column]) -> dict[str, Any]:
        from enrich.enrichment.auto_update import auto_update_enabled

        # The table's auto-update switch, shown once it has a column that can re-run.
        enrichable = any(column.kind == ColumnKind.ENRICHMENT for column in columns)
        return {"auto_update": auto_update_enabled(table_id=table.pk) if enrichable else None}

    def export_values(
        self,
        *,
        rows: Iterable[tuple[int, dict[str, Any]]],
        columns: Sequence[Column],
        chunk_size: int,
    ) -> Iterator[dict[str, Any]]:
        return export_values(rows=rows, columns=columns, chunk_size=chunk_size)

    def row_filler(self, *, table: Table):
        from enrich.enrichment.formulas import row_filler

        return row_filler(table=table)

    def rows_added(self, *, table: Table, errors: dict[int, dict[str, str]]) -> None:
        from enrich.enrichment.formulas import record_errors

        record_errors(table_id=table.pk, errors=errors)

    def columns_reading(self, *, table: Table, key: str) -> list[str]:
        from enrich.enrichment.dependencies import graph_of

        graph = graph_of(table_id=table.pk)
        # The field columns of an enrichment go with it: what reads them counts too.
        doomed = {key} | {
            node.key
            for node in graph.order
            if node.kind == ColumnKind.RESULT_FIELD and node.reads == {key}
        }
        readers = [
            node.column_id for node in graph.order if node.key not in doomed and node.reads & doomed
        ]
        labels = dict(Column.objects.filter(pk__in=readers).values_list("pk", "label"))
        return [labels[column_id] for column_id in readers if column_id in labels]

    def condition_q(self, *, column: Column, condition: Condition) -> Q | None:
        """A condition on an enrichment or field column: the status of its cell, or a value
        at a dot path of its answer (a field column's path comes first)."""
        from django.db.models import Exists, OuterRef

        from enrich.filters import STATUS_OPERATOR, value_q

        source_id: int = column.pk
        prefix: tuple[str, ...] = ()
        if column.kind == ColumnKind.RESULT_FIELD:
            field = ResultField.objects.filter(column=column).values_list("source_id", "path")
            found = field.first()
            if found is None:
                return None
            source_id, prefix = found[0], tuple(found[1].split("."))
        cells = CellResult.objects.filter(row_id=OuterRef("pk"), column_id=source_id)
        if condition.operator == STATUS_OPERATOR:
            wanted = {
                str(item)
                for item in (
                    condition.value if isinstance(condition.value, list) else [condition.value]
                )
            }
            statuses = {"queued": "pending"}
            chosen = [statuses.get(item, item) for item in wanted if item != "not_run"]
            q = Q(Exists(cells.filter(status__in=chosen))) if chosen else Q(pk__in=[])
            if "not_run" in wanted:
                q |= ~Q(Exists(cells))
            return q
        path = prefix + tuple(part for part in condition.path.split(".") if part)
        if not path:
            answered = Q(Exists(cells.filter(status=CellResult.Status.DONE, value__isnull=False)))
            if condition.operator == "is_empty":
                return ~answered
            if condition.operator == "is_not_empty":
                return answered
            return None
        numeric = isinstance(condition.value, int | float) and not isinstance(condition.value, bool)
        matching = cells.filter(status=CellResult.Status.DONE).filter(
            value_q("value", path, condition, numeric=numeric)
        )
        if condition.operator in {"is_empty", "not_contains", "not_equals"}:
            # Blank, or not that value: also the rows whose cell never answered.
            return Q(Exists(matching)) | ~Q(Exists(cells.filter(status=CellResult.Status.DONE)))
        return Q(Exists(matching))

    def values_changed(self, *, table: Table, keys: set[str]) -> None:
        from enrich.enrichment.columns import recompute_downstream

        recompute_downstream(table=table, keys=keys)
