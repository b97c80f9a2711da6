"""Row services: add, delete, write one cell, insert many.

Cells are written one key at a time in SQL (``enrich.json_sql``), never by saving the whole
``values`` dict, so concurrent edits of different cells of a row all survive.

A row stores its non-blank cells only: a blank cell is no key in ``values`` (the CSV import,
"+ Row", an edit that clears a cell and every insert agree). Readers treat a missing key, null
and empty text alike as blank; templates read a blank cell as None.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.db import NotSupportedError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.object_ids import parse_ids
from enrich.computed import provider as computed_columns
from enrich.grid import visible_rows
from enrich.json_sql import JsonRemoveKey, JsonSetKey
from enrich.kinds import kind_for
from enrich.models import Column, ImportJob, Row, Table
from enrich.signals import cell_written

INSERT_BATCH_SIZE = 2000


def next_row_position(*, table: Table) -> int:
    """The position after the table's last row, staged import rows included."""
    last = Row.objects.filter(table=table).aggregate(last=Max("position"))["last"]
    return 0 if last is None else last + 1


def is_blank(value: Any) -> bool:
    """Whether a cell value is blank (stored as no key at all): none, or text of spaces only."""
    return value is None or (isinstance(value, str) and not value.strip())


def without_blanks(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as a row stores them: blank cells left out."""
    return {key: value for key, value in values.items() if not is_blank(value)}


def row_add(*, table: Table, values: Mapping[str, Any] | None = None) -> Row:
    """Append an empty row (or one with already-typed ``values``) at the end of ``table``;
    its computed values (formulas) are filled before it is written."""
    values = without_blanks(values or {})
    filler = computed_columns().row_filler(table=table)
    errors = filler.fill(values) if filler else {}
    with transaction.atomic():
        row = Row.objects.create(
            table=table, position=next_row_position(table=table), values=values
        )
        Table.objects.filter(pk=table.pk).update(updated_at=timezone.now())
        if errors:
            computed_columns().rows_added(table=table, errors={row.pk: errors})
    return row


def rows_delete(*, table: Table, row_ids: Iterable[int]) -> int:
    """Delete the rows of ``table`` among ``row_ids``; ids of other tables are ignored."""
    ids = set(parse_ids(row_ids))
    if not ids:
        return 0
    deleted, _ = visible_rows(table=table).filter(pk__in=ids).delete()
    Table.objects.filter(pk=table.pk).update(updated_at=timezone.now())
    return deleted


def row_set_value(*, row: Row, column: Column, raw: str) -> Any:
    """Validate ``raw`` for the column's kind and write that one cell atomically.

    Raises ``InvalidValue`` (the cell keeps its old value). Returns the stored value and
    updates ``row.values`` in memory for rendering.
    """
    value = kind_for(column.kind).parse(raw)
    now = timezone.now()
    written: JsonRemoveKey | JsonSetKey
    if is_blank(value):
        value = None
        written = JsonRemoveKey("values", key=column.key)
    else:
        written = JsonSetKey("values", key=column.key, value=value)
    with transaction.atomic():
        Row.objects.filter(pk=row.pk).update(values=written, updated_at=now)
        Table.objects.filter(pk=row.table_id).update(updated_at=now)
        if value is None:
            row.values.pop(column.key, None)
        else:
            row.values[column.key] = value
        cell_written.send(sender=Row, row=row, column=column)
    return value


def rows_insert(
    *,
    table: Table,
    rows: Iterable[dict[str, Any]],
    start_position: int,
    import_job: ImportJob | None = None,
) -> int:
    """Insert rows with typed ``values`` in order from ``start_position``; returns the count.
    Their computed values (formulas) are filled as they are written."""
    encode = VALUES_ENCODER.encode
    filler = computed_columns().row_filler(table=table)
    errors: dict[int, dict[str, str]] = {}

    def encoded() -> Iterator[str]:
        for offset, values in enumerate(rows):
            values = without_blanks(values)
            if filler is not None and (failed := filler.fill(values)):
                errors[offset] = failed
            yield encode(values)

    with transaction.atomic():
        count = rows_insert_json(
            table=table,
            values_json=encoded(),
            start_position=start_position,
            import_job=import_job,
        )
        rows_filled(
            table=table, start_position=start_position, errors=errors, import_job=import_job
        )
    return count


def rows_filled(
    *,
    table: Table,
    start_position: int,
    errors: dict[int, dict[str, str]],
    import_job: ImportJob | None = None,
) -> None:
    """Record the cells a filler could not compute for rows just inserted from
    ``start_position`` (``errors`` by offset from it). The rows of an import are told apart
    by its tag: a row added meanwhile may hold one of the same positions."""
    if not errors:
        return
    positions = {start_position + offset: failed for offset, failed in errors.items()}
    inserted = Row.objects.filter(table=table, position__in=list(positions))
    if import_job is not None:
        inserted = inserted.filter(import_job=import_job)
    ids = dict(inserted.values_list("position", "pk"))
    computed_columns().rows_added(
        table=table,
        errors={ids[position]: failed for position, failed in positions.items() if position in ids},
    )


def rows_insert_json(
    *,
    table: Table,
    values_json: Iterable[str],
    start_position: int,
    import_job: ImportJob | None = None,
) -> int:
    """``rows_insert`` for values already encoded as JSON objects (the CSV import writes them
    straight from the file's fields).

    PostgreSQL gets one COPY of text we format ourselves and SQLite one prepared INSERT run by
    ``executemany``: both several times faster than ``bulk_create``, which builds a model
    instance per row and a statement per batch.
    """
    if connection.vendor == "postgresql":
        return _rows_copy(
            table=table, values_json=values_json, start_position=start_position, job=import_job
        )
    if connection.vendor == "sqlite":
        return _rows_executemany(
            table=table, values_json=values_json, start_position=start_position, job=import_job
        )
    raise NotSupportedError(f"Inserting rows in bulk is not implemented for {connection.vendor}.")


# Compact separators: less to send and parse; PostgreSQL's jsonb keeps no spacing anyway.
VALUES_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
ROW_COLUMNS = ("table_id", "position", "values", "import_job_id", "created_at", "updated_at")


def _rows_executemany(
    *, table: Table, values_json: Iterable[str], start_position: int, job: ImportJob | None
) -> int:
    quote = connection.ops.quote_name
    statement = (
        f"INSERT INTO {quote(Row._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(name) for name in ROW_COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    job_id = job.pk if job else None
    params = (
        (table.pk, position, values, job_id, now, now)
        for position, values in enumerate(values_json, start=start_position)
    )
    count = 0
    with transaction.atomic(), connection.cursor() as cursor:
        while batch := list(itertools.islice(params, INSERT_BATCH_SIZE)):
            cursor.executemany(statement, batch)
            count += len(batch)
    return count


def _rows_copy(
    *, table: Table, values_json: Iterable[str], start_position: int, job: ImportJob | None
) -> int:
    quote = connection.ops.quote_name
    statement = (
        f"COPY {quote(Row._meta.db_table)} ({', '.join(quote(name) for name in ROW_COLUMNS)}) "
        "FROM STDIN (NULL '')"  # no value is ever empty text: "" can mean NULL
    )
    now = timezone.now().isoformat()
    # Every line is "table, position, values, job, created, updated"; all but two are constant.
    head = f"{table.pk}\t"
    tail = f"\t{job.pk if job else ''}\t{now}\t{now}\n"
    values = iter(values_json)
    position = start_position
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        while batch := list(itertools.islice(values, INSERT_BATCH_SIZE)):
            text = "".join(
                [
                    f"{head}{number}\t{json_text}{tail}"
                    for number, json_text in enumerate(batch, start=position)
                ]
            )
            # In COPY's text format a backslash starts an escape. JSON text has no raw tab,
            # newline or carriage return (it escapes them) and the other fields have no
            # backslash, so doubling every backslash is all the escaping the lines need.
            copy.write(text.replace("\\", "\\\\").encode())
            position += len(batch)
    return position - start_position
