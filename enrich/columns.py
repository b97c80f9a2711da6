"""Column services and selectors: add, rename, retype, reorder, hide, delete."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from enrich.computed import provider as computed_columns
from enrich.exceptions import (
    ColumnInUse,
    ColumnLabelRequired,
    InvalidValue,
    TableError,
    TooManyColumns,
    UnknownColumn,
)
from enrich.json_sql import JsonRemoveKey, key_path_param, set_key_statement
from enrich.kinds import COMPUTED_KINDS, kind_for
from enrich.models import Column, ColumnKind, ImportJob, Row, Table

KEY_MAX_LENGTH = 48
CONVERT_BATCH_SIZE = 2000
EXAMPLES_KEPT = 5


def columns_for_table(*, table: Table) -> QuerySet[Column]:
    """The table's columns in grid order, hidden ones included; columns a running import is
    still creating are left out."""
    return Column.objects.filter(table=table, import_job__isnull=True).order_by("position", "pk")


def typed_columns_for_table(*, table: Table) -> QuerySet[Column]:
    """``columns_for_table`` without the computed ones: the columns a user, an import or a
    paste may write to."""
    return columns_for_table(table=table).exclude(kind__in=COMPUTED_KINDS)


def column_for_key(*, table: Table, key: str) -> Column:
    """The column ``key`` of ``table``; raises ``UnknownColumn``."""
    column = columns_for_table(table=table).filter(key=key).first()
    if column is None:
        raise UnknownColumn(key)
    return column


def column_key_for(*, label: str, taken: set[str]) -> str:
    """A slug of ``label`` usable as a template name (``[a-z][a-z0-9_]*``), unique in ``taken``."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_") or "column"
    if not base[0].isalpha():
        base = f"c_{base}"
    base = base[:KEY_MAX_LENGTH].rstrip("_")
    key, number = base, 2
    while key in taken:
        suffix = f"_{number}"
        key = base[: KEY_MAX_LENGTH - len(suffix)] + suffix
        number += 1
    return key


def _clean_label(label: str) -> str:
    cleaned = " ".join(label.split())[:200]
    if not cleaned:
        raise ColumnLabelRequired()
    return cleaned


def _touch(table: Table) -> None:
    Table.objects.filter(pk=table.pk).update(updated_at=timezone.now())


def column_add(
    *,
    table: Table,
    label: str,
    kind: str = ColumnKind.TEXT,
    import_job: ImportJob | None = None,
) -> Column:
    """Add a column at the right end of ``table``; its key comes from ``label``, for good.

    Raises ``TooManyColumns`` when the table already has ``ENRICH_MAX_COLUMNS``.
    """
    (column,) = columns_add(table=table, labels=[label], kind=kind, import_job=import_job)
    return column


@transaction.atomic
def columns_add(
    *,
    table: Table,
    labels: Sequence[str],
    kind: str = ColumnKind.TEXT,
    import_job: ImportJob | None = None,
) -> list[Column]:
    """Add a column per label at the right end of ``table``, in order, in one insert (a CSV
    import's new columns: one query per column made a wide file take minutes).

    Raises ``TooManyColumns`` (nothing added) when they would not fit ``ENRICH_MAX_COLUMNS``.
    """
    if not labels:
        return []
    cleaned = [_clean_label(label) for label in labels]
    kind_for(kind)  # an unknown kind is a programming error, not a user one
    # Locking the table row serialises concurrent column adds, so keys stay unique.
    Table.objects.select_for_update().filter(pk=table.pk).first()
    existing = Column.objects.filter(table=table)
    taken = set(existing.values_list("key", flat=True))
    limit = settings.ENRICH_MAX_COLUMNS
    if len(taken) + len(cleaned) > limit:
        raise TooManyColumns(limit=limit, adding=len(cleaned))
    last = existing.aggregate(last=Max("position"))["last"]
    start = 0 if last is None else last + 1
    columns = []
    for offset, label in enumerate(cleaned):
        key = column_key_for(label=label, taken=taken)
        taken.add(key)
        columns.append(
            Column(
                table=table,
                key=key,
                label=label,
                kind=kind,
                position=start + offset,
                import_job=import_job,
            )
        )
    # PostgreSQL and SQLite both return the new ids, which callers (the import) need.
    created = Column.objects.bulk_create(columns)
    _touch(table)
    return created


def column_rename(*, column: Column, label: str) -> Column:
    """Change the label only; the key (used by templates and row values) stays."""
    column.label = _clean_label(label)
    column.save(update_fields=["label"])
    _touch(column.table)
    return column


@dataclass
class KindChange:
    """What a change of type did: how many values converted and which did not."""

    converted: int = 0
    kept: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if not self.kept:
            return f"Converted {self.converted:,} values."
        shown = ", ".join(f"“{example}”" for example in self.examples)
        return (
            f"Converted {self.converted:,} values; {self.kept:,} did not fit and were kept as "
            f"they were (marked in the grid), for example {shown}."
        )


@transaction.atomic
def column_change_kind(*, column: Column, kind: str) -> KindChange:
    """Retype a column and convert its values; values that don't convert are kept unchanged.

    Runs in one transaction with the rows locked (PostgreSQL), so an edit made meanwhile waits
    instead of being overwritten; each value is written with a one-key update.
    """
    target = kind_for(kind)
    source = kind_for(column.kind)
    if source.computed or target.computed:
        raise TableError("An enrichment column keeps its type; add a new column instead.")
    result = KindChange()
    rows = Row.objects.filter(table_id=column.table_id).order_by("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    path = key_path_param(connection, column.key)
    statement = set_key_statement(connection, db_table=Row._meta.db_table)
    pending: list[tuple[list[str] | str, str, int]] = []

    def flush() -> None:
        if pending:
            with connection.cursor() as cursor:
                cursor.executemany(statement, pending)
            pending.clear()

    for row_id, values in rows.values_list("pk", "values").iterator(chunk_size=CONVERT_BATCH_SIZE):
        if column.key not in values or values[column.key] is None:
            continue
        old = values[column.key]
        # A string is converted as it reads (a JSON column's "abc" becomes text abc, not
        # "\"abc\""); other values as their kind writes them.
        text = old if isinstance(old, str) else source.to_text(old)
        try:
            new = target.parse(text)
        except InvalidValue:
            result.kept += 1
            if len(result.examples) < EXAMPLES_KEPT:
                result.examples.append(text[:40])
            continue
        result.converted += 1
        if new is None:
            # A value that converts to nothing (JSON null, text of spaces) is blank: no key.
            Row.objects.filter(pk=row_id).update(values=JsonRemoveKey("values", key=column.key))
        elif new != old or type(new) is not type(old):
            pending.append((path, json.dumps(new, ensure_ascii=False), row_id))
            if len(pending) >= CONVERT_BATCH_SIZE:
                flush()
    flush()
    column.kind = kind
    column.save(update_fields=["kind"])
    _touch(column.table)
    if result.converted:
        # Values changed type: what reads them (formulas, auto-update columns) follows.
        computed_columns().values_changed(table=column.table, keys={column.key})
    return result


@transaction.atomic
def columns_reorder(*, table: Table, keys: Sequence[str]) -> list[Column]:
    """Put the columns in the order of ``keys``; columns not named keep their relative order
    after them (a stale page can't drop a column someone else just added)."""
    columns = list(columns_for_table(table=table).select_for_update())
    by_key = {column.key: column for column in columns}
    ordered = [by_key.pop(key) for key in dict.fromkeys(keys) if key in by_key]
    ordered += [column for column in columns if column.key in by_key]
    for position, column in enumerate(ordered):
        column.position = position
    Column.objects.bulk_update(ordered, ["position"])
    _touch(table)
    return ordered


def column_move(*, column: Column, offset: int) -> list[Column]:
    """Move a column ``offset`` places left (negative) or right (positive)."""
    keys = list(columns_for_table(table=column.table).values_list("key", flat=True))
    index = keys.index(column.key)
    target = max(0, min(len(keys) - 1, index + offset))
    keys.insert(target, keys.pop(index))
    return columns_reorder(table=column.table, keys=keys)


def column_set_hidden(*, column: Column, hidden: bool) -> Column:
    """Hide a column from the grid and exports, or show it again. Its values stay."""
    column.hidden = hidden
    column.save(update_fields=["hidden"])
    _touch(column.table)
    return column


@transaction.atomic
def column_delete(*, column: Column) -> None:
    """Delete a column and its values from every row, so a future column that gets the same
    key starts empty. Refused (``ColumnInUse``) while computed columns read it."""
    readers = computed_columns().columns_reading(table=column.table, key=column.key)
    if readers:
        raise ColumnInUse(column.label, readers)
    Row.objects.filter(table_id=column.table_id).update(
        values=JsonRemoveKey("values", key=column.key)
    )
    column.delete()
    _touch(column.table)
