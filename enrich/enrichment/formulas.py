"""Formula cells: computed on the server as rows change, stored in the row.

- New rows (an import, "+ Row", an insert) are filled before they are written
  (``row_filler``): no second write, no task per row.
- A changed cell (an edit, an enrichment's result) recomputes the formulas that read it
  (``enrich.enrichment.auto_update.propagate``).
- A saved formula is computed over the whole table, then what reads it (``recompute``).

A formula that fails leaves the cell blank and records its error as the cell's result
(``CellResult`` with status error), so the grid shows it and a later success clears it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from connectors import TemplateError
from connectors.template_values import RowView
from connectors.templating import Formula, compile_formula
from enrich.computed import RowFiller
from enrich.enrichment.dependencies import ComputedGraph, cached_graph
from enrich.enrichment.kinds.formula import evaluate
from enrich.enrichment.models import CellResult, EnrichmentColumn
from enrich.json_sql import JsonRemoveKey, JsonSetKey, key_path_param, set_key_statement
from enrich.models import Column, ColumnKind, Row, Table

#: Rows computed and written per transaction when a whole column is recomputed.
RECOMPUTE_CHUNK = 1000


@dataclass(frozen=True)
class FormulaCell:
    """A formula column, compiled: what computing its cells needs."""

    column_id: int
    key: str
    formula: Formula
    output: str


def formulas_of(*, table_id: int, graph: ComputedGraph | None = None) -> list[FormulaCell]:
    """The table's formula columns in dependency order (each after the formulas it reads),
    compiled; kept with the table's cached graph until its computed columns change."""
    graph = graph or cached_graph(table_id=table_id)
    found: list[FormulaCell] | None = graph.memo.get("formulas")
    if found is not None:
        return found
    order = {node.key: index for index, node in enumerate(graph.order)}
    found = []
    for column_id, key, config in EnrichmentColumn.objects.filter(
        column__table_id=table_id, kind="formula"
    ).values_list("column_id", "column__key", "config"):
        try:
            formula = compile_formula(str(config.get("expression") or ""))
        except TemplateError:
            continue  # refused on save; never stored
        found.append(FormulaCell(column_id, key, formula, str(config.get("output") or "auto")))
    found.sort(key=lambda cell: order.get(cell.key, len(order)))
    graph.memo["formulas"] = found
    return found


def column_keys(*, table_id: int, graph: ComputedGraph | None = None) -> frozenset[str]:
    """The keys of the table's columns, kept with its cached graph: a formula only reads keys
    that were columns when it was saved, and a column it reads cannot be deleted."""
    graph = graph or cached_graph(table_id=table_id)
    keys: frozenset[str] | None = graph.memo.get("column_keys")
    if keys is None:
        keys = frozenset(Column.objects.filter(table_id=table_id).values_list("key", flat=True))
        graph.memo["column_keys"] = keys
    return keys


def compute(values: dict[str, Any], formulas: Sequence[FormulaCell], columns: frozenset[str]):
    """Compute ``formulas`` into ``values`` in order (a blank result removes the key); the
    errors of the cells that failed, by column key."""
    row = RowView(values, columns)
    errors: dict[str, str] = {}
    for cell in formulas:
        try:
            value = evaluate(cell.formula, cell.output, row)
        except TemplateError as exc:
            value = None
            errors[cell.key] = exc.message
        if value is None:
            values.pop(cell.key, None)
        else:
            values[cell.key] = value
    return errors


def row_filler(*, table: Table) -> RowFiller | None:
    """What fills new rows of ``table`` before they are written, or None without formulas.

    Reads the database now, never while filling: an import fills rows in a reading thread."""
    formulas = formulas_of(table_id=table.pk)
    if not formulas:
        return None
    columns = frozenset(Column.objects.filter(table=table).values_list("key", flat=True))

    def fill(values: dict[str, Any]) -> dict[str, str]:
        return compute(values, formulas, columns)

    return RowFiller(
        fill=fill,
        reads=frozenset().union(*(cell.formula.keys for cell in formulas)),
        writes=tuple(cell.key for cell in formulas),
    )


def record_errors(
    *,
    table_id: int,
    errors: dict[int, dict[str, str]],
    rows: Iterable[int] = (),
    formulas: Iterable[int] = (),
) -> None:
    """Record formula errors by row id and column key. The old results of the ``formulas``
    (column ids) in ``rows`` go first, in one statement: those computed without error now
    have none, and the others get theirs again."""
    rows, formulas = list(rows), list(formulas)
    if rows and formulas:
        CellResult.objects.filter(row_id__in=rows, column_id__in=formulas).delete()
    if not errors:
        return
    ids = dict(
        Column.objects.filter(table_id=table_id, kind=ColumnKind.FORMULA).values_list("key", "pk")
    )
    now = timezone.now()
    CellResult.objects.bulk_create(
        [
            CellResult(
                row_id=row_id,
                column_id=ids[key],
                status=CellResult.Status.ERROR,
                error=message[:1000],
                error_code="formula",
                finished_at=now,
            )
            for row_id, row_errors in errors.items()
            for key, message in row_errors.items()
            if key in ids
        ],
        update_conflicts=True,
        unique_fields=["row", "column"],
        update_fields=["status", "error", "error_code", "finished_at", "value"],
    )


def write_cells(
    *, row: Row, changed: dict[str, Any], errors: dict[str, str], formulas: Sequence[FormulaCell]
) -> None:
    """Write one row's recomputed formula cells (one UPDATE per changed key) and their errors."""
    for key, value in changed.items():
        expression = (
            JsonRemoveKey("values", key=key)
            if value is None
            else JsonSetKey("values", key=key, value=value)
        )
        Row.objects.filter(pk=row.pk).update(values=expression)
    record_errors(
        table_id=row.table_id,
        errors={row.pk: errors} if errors else {},
        rows=[row.pk],
        formulas=[cell.column_id for cell in formulas],
    )


def recompute(*, table: Table, keys: Iterable[str]) -> dict[str, set[int]]:
    """Compute the formulas named by ``keys`` and every formula that reads them over the
    whole table, a chunk of rows per transaction (the chunk's rows locked, so an edit that
    commits meanwhile is computed from, not overwritten). Returns the rows whose value
    changed, by formula key.

    Formulas that read an enrichment's results get those results with their chunk."""
    from enrich.enrichment.grid import computed_values_by_row

    graph = cached_graph(table_id=table.pk)
    wanted = set(keys)
    reached = {node.key for node in graph.downstream(wanted)} | wanted
    formulas = [cell for cell in formulas_of(table_id=table.pk, graph=graph) if cell.key in reached]
    changed: dict[str, set[int]] = {cell.key: set() for cell in formulas}
    if not formulas:
        return changed
    columns = frozenset(Column.objects.filter(table=table).values_list("key", flat=True))
    own = {cell.key for cell in formulas}
    reads_computed = {
        key
        for node in graph.order
        if node.key in own
        for key in node.reads
        if key in graph.nodes and key not in own
    }
    rows = Row.objects.filter(table=table).order_by("pk")
    last = 0
    while True:
        with transaction.atomic():
            chunk = list(
                rows.filter(pk__gt=last)
                .select_for_update()
                .values_list("pk", "values")[:RECOMPUTE_CHUNK]
            )
            if not chunk:
                break
            last = chunk[-1][0]
            computed = (
                computed_values_by_row(
                    table_id=table.pk, row_ids=[pk for pk, _ in chunk], keys=reads_computed
                )
                if reads_computed
                else {}
            )
            _recompute_chunk(table, chunk, computed, formulas, columns, changed)
    return changed


def _recompute_chunk(
    table: Table,
    chunk: list[tuple[int, dict[str, Any]]],
    computed: dict[int, dict[str, Any]],
    formulas: list[FormulaCell],
    columns: frozenset[str],
    changed: dict[str, set[int]],
) -> None:
    sets: list[tuple[Any, str, int]] = []
    removals: dict[str, list[int]] = {}
    errors: dict[int, dict[str, str]] = {}
    for pk, stored_values in chunk:
        values = {**stored_values, **computed.get(pk, {})}
        row_errors = compute(values, formulas, columns)
        for cell in formulas:
            new, old = values.get(cell.key), stored_values.get(cell.key)
            if new != old or type(new) is not type(old):
                changed[cell.key].add(pk)
                if new is None:
                    removals.setdefault(cell.key, []).append(pk)
                else:
                    path = key_path_param(connection, cell.key)
                    sets.append((path, json.dumps(new, ensure_ascii=False), pk))
        if row_errors:
            errors[pk] = row_errors
    if sets:
        statement = set_key_statement(connection, db_table=Row._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(statement, sets)
    for key, row_ids in removals.items():
        Row.objects.filter(pk__in=row_ids).update(values=JsonRemoveKey("values", key=key))
    record_errors(
        table_id=table.pk,
        errors=errors,
        rows=[pk for pk, _ in chunk],
        formulas=[cell.column_id for cell in formulas],
    )
