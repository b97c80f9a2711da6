"""Table services and selectors: create, rename, duplicate, delete."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Workspace
from enrich.grid import visible_rows
from enrich.models import Column, ImportJob, Row, Table
from enrich.signals import table_duplicated


def tables_for_workspace(*, workspace: Workspace) -> QuerySet[Table]:
    """The workspace's tables, most recently changed first."""
    # A table made by an import that failed is nothing the user has; it is removed soon after.
    failed = ImportJob.objects.filter(creates_table=True, status=ImportJob.Status.FAILED)
    return (
        Table.objects.filter(workspace=workspace)
        .exclude(pk__in=failed.values("table_id"))
        .order_by("-updated_at", "pk")
    )


def table_create(*, workspace: Workspace, name: str, created_by: User | None) -> Table:
    """Create an empty table in ``workspace``."""
    return Table.objects.create(workspace=workspace, name=name.strip(), created_by=created_by)


def table_rename(*, table: Table, name: str) -> Table:
    """Give ``table`` a new name."""
    table.name = name.strip()
    table.save(update_fields=["name", "updated_at"])
    return table


@transaction.atomic
def table_duplicate(*, table: Table, name: str, with_rows: bool, created_by: User | None) -> Table:
    """Copy a table's columns (same keys, so templates keep working) and, if asked, its rows.

    Rows are copied by one INSERT … SELECT in the database, never through Python.
    """
    copy = table_create(workspace=table.workspace, name=name, created_by=created_by)
    Column.objects.bulk_create(
        Column(
            table=copy,
            key=column.key,
            label=column.label,
            kind=column.kind,
            position=column.position,
            hidden=column.hidden,
        )
        for column in Column.objects.filter(table=table, import_job__isnull=True)
    )
    if with_rows:
        # The visible rows' own query, as the source of an INSERT … SELECT.
        source, params = (
            visible_rows(table=table).order_by().values_list("position", "values").query
        ).sql_with_params()
        quote = connection.ops.quote_name
        fields = ", ".join(
            quote(name) for name in ("table_id", "position", "values", "created_at", "updated_at")
        )
        statement = (
            f"INSERT INTO {quote(Row._meta.db_table)} ({fields}) "  # noqa: S608
            f"SELECT %s, source.{quote('position')}, source.{quote('values')}, %s, %s "
            f"FROM ({source}) AS source"
        )
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(statement, [copy.pk, now, now, *params])
    table_duplicated.send(sender=Table, source=table, copy=copy)
    return copy


def table_delete(*, table: Table) -> None:
    """Delete a table with its columns, rows and imports."""
    table.delete()
