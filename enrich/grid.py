"""Grid selectors: one page of rows, the row count, and every row for an export.

The default order walks the (table, position, id) index with a keyset cursor, so the last
page of a million rows costs what the first does. Sorting by a column's value has no index
(the values are JSON), so each sorted page is a sort either way; it pages by offset.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.lookups import IContains

from accounts.object_ids import MAX_ID
from enrich.computed import provider as computed_columns
from enrich.exceptions import TableError
from enrich.filters import Group, filter_rows, parse_filter
from enrich.kinds import COMPUTED_KINDS
from enrich.models import Column, ImportJob, Row, Table

EXPORT_CHUNK_SIZE = 2000
TAIL = "tail"
#: Far past any table's last row, and leaves room for ``offset + limit`` in 64 bits.
MAX_OFFSET = MAX_ID // 2


@dataclass(frozen=True)
class GridQuery:
    """What the user asked the grid for: an optional sort, search and filter, and where to
    resume."""

    sort: str = ""
    descending: bool = False
    search: str = ""
    cursor: str = ""
    #: The filter as checked data, and as the JSON text the grid sends back with each request.
    filter: Group = field(default_factory=Group)
    filter_param: str = ""
    #: Why the filter asked for was not applied (bad input), for the grid to say.
    filter_error: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str], *, columns: Sequence[Column]) -> GridQuery:
        """Read ``sort`` (a column key, ``-key`` for descending), ``q``, ``filter`` (JSON) and
        ``after``; a sort by an unknown column is ignored rather than an error (it was deleted
        meanwhile), and so is a filter that does not parse, saying why."""
        sort = params.get("sort", "").strip()
        descending = sort.startswith("-")
        key = sort.lstrip("-")
        if key not in {column.key for column in columns}:
            key, descending = "", False
        raw = params.get("filter", "").strip()[:20_000]
        group, error = Group(), ""
        if raw:
            try:
                group = parse_filter(json.loads(raw))
            except (ValueError, TableError) as refused:
                error = (
                    str(refused)
                    if isinstance(refused, TableError)
                    else "The filter is not valid JSON."
                )
        return cls(
            sort=key,
            descending=descending,
            search=params.get("q", "").strip()[:200],
            cursor=params.get("after", "").strip()[:64],
            filter=group,
            filter_param=raw if group.conditions else "",
            filter_error=error,
        )

    @property
    def sort_param(self) -> str:
        return f"-{self.sort}" if self.descending and self.sort else self.sort

    def params(self, **changes: str) -> str:
        """The query's parameters for a link of the grid (its sort, search and filter), with
        ``changes``: what every link and request of the grid carries along."""
        found = {"sort": self.sort_param, "q": self.search, "filter": self.filter_param}
        found.update(changes)
        return urlencode({name: value for name, value in found.items() if value})

    def sort_params(self, key: str) -> str:
        """The parameters of a click on the header of column ``key``: ascending, then
        descending, then no sort."""
        if self.sort != key:
            return self.params(sort=key)
        return self.params(sort="" if self.descending else f"-{key}")


@dataclass(frozen=True)
class GridPage:
    rows: list[Row]
    next_cursor: str | None
    total: int


def visible_rows(*, table: Table) -> QuerySet[Row]:
    """The table's rows, without those of an import that is not done yet.

    One statement, so the rows and the jobs' statuses are read from the same snapshot: an
    import's rows appear all at once, in the transaction that marks it done. The database
    evaluates the few unfinished jobs once (a hashed subplan) and checks each row's tag in
    the (table, position, id, import_job) index.
    """
    unfinished = ImportJob.objects.filter(table=table).exclude(status=ImportJob.Status.DONE)
    return Row.objects.filter(table=table).exclude(import_job__in=unfinished.values("pk"))


def filtered_rows(*, table: Table, columns: Sequence[Column], query: GridQuery) -> QuerySet[Row]:
    """Rows matching the search (case-insensitive, in any of ``columns``), in the asked order."""
    rows = visible_rows(table=table)
    if query.filter.conditions:
        rows = filter_rows(rows, group=query.filter, columns=columns)
    if query.search and columns:
        matches = [
            IContains(KeyTextTransform(column.key, "values"), query.search) for column in columns
        ]
        rows = rows.filter(functools.reduce(operator.or_, (Q(match) for match in matches)))
    if query.sort:
        value = KeyTransform(query.sort, "values")
        ordered = value.desc(nulls_last=True) if query.descending else value.asc(nulls_last=True)
        return rows.order_by(ordered, "position", "pk")
    return rows.order_by("position", "pk")


def grid_page(
    *, table: Table, columns: Sequence[Column], query: GridQuery, limit: int, count: bool = True
) -> GridPage:
    """One page of the grid after ``query.cursor``: at most ``limit`` rows in two queries (the
    page, fetched one row long to know whether more follow, and the count when asked)."""
    rows = filtered_rows(table=table, columns=columns, query=query)
    total = rows.count() if count else -1
    offset = 0
    if query.cursor == TAIL and not query.sort:
        # The end of the table (after "Add row"): the last page, read backwards on the index.
        tail = list(rows.order_by("-position", "-pk")[:limit])
        return GridPage(rows=tail[::-1], next_cursor=None, total=total)
    if query.sort:
        offset = _offset_cursor(query.cursor)
        page = list(rows[offset : offset + limit + 1])
    else:
        after = _keyset_cursor(query.cursor)
        if after is not None:
            position, pk = after
            rows = rows.filter(Q(position__gt=position) | Q(position=position, pk__gt=pk))
        page = list(rows[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    next_cursor = None
    if has_more:
        last = page[-1]
        next_cursor = f"o{offset + limit}" if query.sort else f"k{last.position}.{last.pk}"
    return GridPage(rows=page, next_cursor=next_cursor, total=total)


def rows_for_export(
    *, table: Table, columns: Sequence[Column], query: GridQuery | None = None
) -> Iterator[dict]:
    """Every visible row's ``values`` in grid order, read in chunks (a server-side cursor on
    PostgreSQL), so memory stays flat however long the table."""
    rows = filtered_rows(table=table, columns=columns, query=query or GridQuery())
    if not any(column.kind in COMPUTED_KINDS for column in columns):
        yield from rows.values_list("values", flat=True).iterator(chunk_size=EXPORT_CHUNK_SIZE)
        return
    # Enrichment results live beside the rows: one more query per chunk adds them.
    pairs = rows.values_list("pk", "values").iterator(chunk_size=EXPORT_CHUNK_SIZE)
    yield from computed_columns().export_values(
        rows=pairs, columns=columns, chunk_size=EXPORT_CHUNK_SIZE
    )


def _keyset_cursor(cursor: str) -> tuple[int, int] | None:
    if not cursor.startswith("k"):
        return None
    position, _, pk = cursor[1:].partition(".")
    try:
        numbers = int(position), int(pk)
    except ValueError:
        return None
    # A number no 64-bit column holds would reach the query and fail there (a server error).
    return numbers if all(abs(number) <= MAX_ID for number in numbers) else None


def _offset_cursor(cursor: str) -> int:
    if not cursor.startswith("o"):
        return 0
    try:
        offset = int(cursor[1:])
    except ValueError:
        return 0
    return offset if 0 <= offset <= MAX_OFFSET else 0
