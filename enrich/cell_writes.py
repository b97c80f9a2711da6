"""Writing many cells at once — a paste, a clear, a fill down — and undoing and redoing them.

Each change is one call and one transaction. Every value is checked against its column's
kind first: a refused cell keeps its value and says why, the others are written with one
statement per column, a paste that runs past the last row appends rows, and what the change
sets off (formulas, auto-update columns) runs once for each row it touched. Computed columns
are never written; a change that covers them leaves them and says so.

Every change is recorded (``GridAction``) with each cell's value before and after, so the
user who made it can undo and redo it, from the server (a reload does not lose it). An undo
writes back only the cells still as the change left them: a cell someone changed since keeps
that newer value, and the undo says how many it left alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from enrich.columns import columns_for_table
from enrich.exceptions import InvalidValue, TableError
from enrich.grid import visible_rows
from enrich.json_sql import JsonRemoveKey, key_path_param, set_key_statement
from enrich.kinds import kind_for
from enrich.models import Column, GridAction, Row, Table
from enrich.rows import is_blank, next_row_position, rows_insert
from enrich.signals import cells_written


@dataclass(frozen=True)
class CellWrite:
    """One cell to write: its row, its column's key and the text typed or pasted."""

    row_id: int
    key: str
    raw: str


@dataclass
class WriteOutcome:
    """What a change did, for the grid to show."""

    written: int = 0
    #: Cells whose value was refused, as (row id, column key, why); they keep their value.
    refused: list[tuple[int, str, str]] = field(default_factory=list)
    #: Labels of the computed columns the change covered and left alone.
    skipped: list[str] = field(default_factory=list)
    rows_added: list[int] = field(default_factory=list)
    #: An undo or redo: cells someone changed since, left as they are.
    conflicts: int = 0
    action: GridAction | None = None

    @property
    def rows_touched(self) -> set[int]:
        touched = {row_id for row_id, _, _, _ in (self.action.cells if self.action else [])}
        return touched | set(self.rows_added)


def parse_tsv(text: str) -> list[list[str]]:
    """Text copied from Excel, Google Sheets or another grid: rows of tab-separated fields,
    a field with a tab, a newline or a quote written between double quotes."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return []
    return [list(row) for row in csv.reader(io.StringIO(text), delimiter="\t", quotechar='"')]


def cells_write(
    *,
    table: Table,
    user: User,
    writes: Sequence[CellWrite],
    new_rows: Sequence[Mapping[str, str]] = (),
    kind: str = GridAction.Kind.PASTE,
) -> WriteOutcome:
    """Write ``writes`` and append ``new_rows`` (column key → text), in one transaction, as
    one undoable change of ``kind``. Raises ``TableError`` when it is too big."""
    size = len(writes) + sum(len(row) for row in new_rows)
    if size > settings.ENRICH_MAX_PASTE_CELLS:
        raise TableError(
            f"This would write {size:,} cells; at most {settings.ENRICH_MAX_PASTE_CELLS:,} "
            "can be written at once. Paste it in parts, or import it as a CSV file."
        )
    columns = {column.key: column for column in columns_for_table(table=table)}
    outcome = WriteOutcome()
    wanted: dict[int, dict[str, Any]] = {}
    for write in writes:
        value = _parsed(columns, write.key, write.raw, outcome, write.row_id)
        if value is not _REFUSED:
            wanted.setdefault(write.row_id, {})[write.key] = value
    appended: list[dict[str, Any]] = []
    for new_row in new_rows:
        values = {}
        for key, raw in new_row.items():
            value = _parsed(columns, key, raw, outcome, None)
            if value is not _REFUSED and value is not None:
                values[key] = value
        appended.append(values)
    with transaction.atomic():
        current = dict(
            visible_rows(table=table)
            .filter(pk__in=list(wanted))
            .select_for_update()
            .values_list("pk", "values")
        )
        cells: list[list[Any]] = []
        for row_id, changes in wanted.items():
            if row_id not in current:
                outcome.refused += [(row_id, key, "The row is gone.") for key in changes]
                continue
            for key, after in changes.items():
                before = current[row_id].get(key)
                if not _same(before, after):
                    cells.append([row_id, key, before, after])
        _write_cells(cells)
        if appended:
            outcome.rows_added = _append(table, appended)
        outcome.written = len(cells)
        if cells or outcome.rows_added:
            outcome.action = GridAction.objects.create(
                table=table,
                user=user,
                kind=kind,
                cells=cells,
                rows_added=[[row_id, values] for row_id, values in zip(
                    outcome.rows_added, appended, strict=True
                )],
            )  # fmt: skip
            _forget_redo(table=table, user=user, keep=outcome.action)
            _changed(table, cells)
    return outcome


def cell_edit_record(
    *, table: Table, user: User, row_id: int, key: str, before: Any, after: Any
) -> GridAction | None:
    """Record a one-cell edit (made through ``rows.row_set_value``) so it can be undone."""
    if _same(before, after):
        return None
    action = GridAction.objects.create(
        table=table, user=user, kind=GridAction.Kind.EDIT, cells=[[row_id, key, before, after]]
    )
    _forget_redo(table=table, user=user, keep=action)
    return action


def action_undo(*, table: Table, user: User) -> WriteOutcome | None:
    """Undo the user's last change to ``table`` that is not undone; None when there is none."""
    return _step(table=table, user=user, undo=True)


def action_redo(*, table: Table, user: User) -> WriteOutcome | None:
    """Redo the user's change undone last; None when there is none (a new change since
    forgets what was undone)."""
    return _step(table=table, user=user, undo=False)


def _step(*, table: Table, user: User, undo: bool) -> WriteOutcome | None:
    with transaction.atomic():
        actions = GridAction.objects.select_for_update().filter(
            table=table, user=user, undone=not undo
        )
        # Undo the newest change not undone; redo the oldest of those undone since.
        action = actions.order_by("-pk" if undo else "pk").first()
        return _apply(action, undo=undo) if action else None


def _apply(action: GridAction, *, undo: bool) -> WriteOutcome:
    """Write each cell back (``undo``) or forward, where it is still as the action left it."""
    table = action.table
    outcome = WriteOutcome(action=action)
    expected, target = (3, 2) if undo else (2, 3)
    row_ids = {cell[0] for cell in action.cells} | {row_id for row_id, _ in action.rows_added}
    current = dict(
        Row.objects.filter(table=table, pk__in=row_ids)
        .select_for_update()
        .values_list("pk", "values")
    )
    cells = []
    for cell in action.cells:
        row_id, key = cell[0], cell[1]
        if row_id in current and _same(current[row_id].get(key), cell[expected]):
            cells.append([row_id, key, cell[expected], cell[target]])
        else:
            outcome.conflicts += 1
    _write_cells(cells)
    if undo:
        # Rows the change appended go, unless someone has written into them since (their
        # typed cells; computed ones change by themselves).
        typed = {c.key for c in columns_for_table(table=table) if not kind_for(c.kind).computed}

        def as_appended(values: Mapping[str, Any]) -> dict[str, Any]:
            return {key: value for key, value in values.items() if key in typed}

        untouched = [
            row_id
            for row_id, values in action.rows_added
            if row_id in current and as_appended(current[row_id]) == as_appended(values)
        ]
        outcome.conflicts += len(action.rows_added) - len(untouched)
        Row.objects.filter(pk__in=untouched).delete()
    elif action.rows_added:
        added = _append(table, [values for _, values in action.rows_added])
        action.rows_added = [
            [row_id, values] for row_id, (_, values) in zip(added, action.rows_added, strict=True)
        ]
        outcome.rows_added = added
    outcome.written = len(cells)
    action.undone = undo
    action.save(update_fields=["undone", "rows_added"])
    _changed(table, cells)
    return outcome


_REFUSED = object()


def _parsed(
    columns: Mapping[str, Column],
    key: str,
    raw: str,
    outcome: WriteOutcome,
    row_id: int | None,
) -> Any:
    """The stored value of ``raw`` for column ``key``; ``_REFUSED`` (noted) when it cannot be."""
    column = columns.get(key)
    if column is None:
        outcome.refused.append((row_id or 0, key, "There is no such column."))
        return _REFUSED
    kind = kind_for(column.kind)
    if kind.computed:
        if column.label not in outcome.skipped:
            outcome.skipped.append(column.label)
        return _REFUSED
    try:
        value = kind.parse(raw)
    except InvalidValue as refused:
        outcome.refused.append((row_id or 0, key, str(refused)))
        return _REFUSED
    return None if is_blank(value) else value


def _same(left: Any, right: Any) -> bool:
    return left == right and type(left) is type(right)


def _write_cells(cells: Sequence[Sequence[Any]]) -> None:
    """Write the ``after`` value (index 3) of each [row, key, before, after]: one statement
    for every value set, one per key for the cells made blank."""
    sets = [
        (key_path_param(connection, key), json.dumps(after, ensure_ascii=False), row_id)
        for row_id, key, _, after in cells
        if after is not None
    ]
    if sets:
        statement = set_key_statement(connection, db_table=Row._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(statement, sets)
    blanks: dict[str, list[int]] = {}
    for row_id, key, _, after in cells:
        if after is None:
            blanks.setdefault(key, []).append(row_id)
    for key, row_ids in blanks.items():
        Row.objects.filter(pk__in=row_ids).update(values=JsonRemoveKey("values", key=key))


def _append(table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Append rows (their formulas filled) at the end of ``table``; their ids in order."""
    start = next_row_position(table=table)
    rows_insert(table=table, rows=[dict(values) for values in rows], start_position=start)
    by_position = dict(
        Row.objects.filter(
            table=table, position__gte=start, position__lt=start + len(rows)
        ).values_list("position", "pk")
    )
    return [by_position[start + offset] for offset in range(len(rows))]


def _forget_redo(*, table: Table, user: User, keep: GridAction) -> None:
    """A new change forgets what was undone before it: there is nothing to redo after it."""
    GridAction.objects.filter(table=table, user=user, undone=True).exclude(pk=keep.pk).delete()


def _changed(table: Table, cells: Sequence[Sequence[Any]]) -> None:
    Table.objects.filter(pk=table.pk).update(updated_at=timezone.now())
    changes: dict[int, set[str]] = {}
    for row_id, key, *_ in cells:
        changes.setdefault(row_id, set()).add(key)
    if changes:
        cells_written.send(sender=Row, table=table, changes=changes)
