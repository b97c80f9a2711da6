"""SQL that changes one key of a row's JSON ``values`` inside the database.

Two users editing different cells of one row must both keep their value, so a write never
reads the whole dict into Python and saves it back: it sets one key atomically in SQL
(PostgreSQL ``jsonb_set``, SQLite ``json_set``), and concurrent writes to other keys survive.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression, F, JSONField
from django.db.models.expressions import Combinable
from django.db.models.sql.compiler import SQLCompiler


def sqlite_path(key: str) -> str:
    """A JSON path naming one top-level key, quoted so any key is taken literally."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _KeyExpression(Expression):
    output_field = JSONField()

    def __init__(self, field: str, *, key: str) -> None:
        super().__init__()
        # The F names the field until resolve_expression turns it into the column.
        self.source: F | Expression = F(field)
        self.key = key

    def resolve_expression(self, *args: Any, **kwargs: Any) -> _KeyExpression:
        resolved = self.copy()
        resolved.source = self.source.resolve_expression(*args, **kwargs)
        return resolved

    def get_source_expressions(self) -> list[Any]:
        return [self.source]

    def set_source_expressions(self, exprs: Sequence[Combinable | Expression]) -> None:
        (source,) = exprs
        assert isinstance(source, F | Expression)
        self.source = source

    def _compile_source(self, compiler: SQLCompiler) -> tuple[str, Sequence[Any]]:
        # Django compiles an expression only once it is resolved: the F is the column by now.
        assert isinstance(self.source, Expression)
        return compiler.compile(self.source)


class JsonSetKey(_KeyExpression):
    """``values`` with ``key`` set to ``value``, computed by the database."""

    def __init__(self, field: str, *, key: str, value: Any) -> None:
        super().__init__(field, key=key)
        self.json = json.dumps(value, ensure_ascii=False)

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = self._compile_source(compiler)
        if connection.vendor == "postgresql":
            return (
                f"jsonb_set({sql}, %s::text[], %s::jsonb, true)",
                (*params, [self.key], self.json),
            )
        if connection.vendor == "sqlite":
            return f"json_set({sql}, %s, json(%s))", (*params, sqlite_path(self.key), self.json)
        raise NotSupportedError(f"Setting one JSON key is not implemented for {connection.vendor}.")


class JsonRemoveKey(_KeyExpression):
    """``values`` without ``key``, computed by the database."""

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = self._compile_source(compiler)
        if connection.vendor == "postgresql":
            return f"({sql} - %s)", (*params, self.key)
        if connection.vendor == "sqlite":
            return f"json_remove({sql}, %s)", (*params, sqlite_path(self.key))
        raise NotSupportedError(f"Removing a JSON key is not implemented for {connection.vendor}.")


def set_key_statement(connection: BaseDatabaseWrapper, *, db_table: str) -> str:
    """An UPDATE of one key of one row for ``executemany`` with (path, json, row id) params;
    the bulk form of ``JsonSetKey`` used when a column's type changes."""
    quote = connection.ops.quote_name
    column = quote("values")
    if connection.vendor == "postgresql":
        setter = f"jsonb_set({column}, %s::text[], %s::jsonb, true)"
    elif connection.vendor == "sqlite":
        setter = f"json_set({column}, %s, json(%s))"
    else:
        raise NotSupportedError(f"Setting one JSON key is not implemented for {connection.vendor}.")
    return f"UPDATE {quote(db_table)} SET {column} = {setter} WHERE {quote('id')} = %s"  # noqa: S608


def key_path_param(connection: BaseDatabaseWrapper, key: str) -> list[str] | str:
    """The path parameter ``set_key_statement`` expects for ``key`` on this database."""
    return [key] if connection.vendor == "postgresql" else sqlite_path(key)
