"""How the table core reaches computed columns without knowing what computes them.

Enrichment columns, the fields of their results and formulas are computed by an app of their
own (``enrich.enrichment``), which registers a ``ComputedColumns`` provider when it starts.
The grid, the export, row inserts and the grid's toolbar ask the provider; the core never
imports that app. Which column kinds are computed is said once, by the kinds themselves
(``enrich.kinds``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.db.models import Q

    from enrich.filters import Condition
    from enrich.models import Column, Table


@dataclass(frozen=True)
class RowFiller:
    """Fills the computed values a new row stores itself (formulas) into its values."""

    #: Completes a row's values in place; returns the cells it could not compute, by key.
    fill: Callable[[dict[str, Any]], dict[str, str]]
    #: The keys ``fill`` reads: a row given with only these is filled the same.
    reads: frozenset[str]
    #: The keys ``fill`` may write.
    writes: tuple[str, ...]


class ComputedColumns(Protocol):
    """What the app that computes columns answers the table core."""

    def attach_cells(
        self, *, rows: Sequence[Any], columns: Sequence[Column], since: datetime | None = None
    ) -> None:
        """Give each row ``row.computed``: ``{column id: ComputedCell}`` for the computed
        columns among ``columns`` (only cells changed after ``since`` when given)."""

    def attach_headers(self, *, columns: Sequence[Column]) -> None:
        """Give computed columns what their grid header shows (a run's progress, a summary)."""

    def toolbar(self, *, table: Table, columns: Sequence[Column]) -> dict[str, Any]:
        """Extra context for the grid's toolbar (e.g. the table's auto-update switch)."""

    def export_values(
        self,
        *,
        rows: Iterable[tuple[int, dict[str, Any]]],
        columns: Sequence[Column],
        chunk_size: int,
    ) -> Iterator[dict[str, Any]]:
        """Each row's values with its computed columns' values added by key."""

    def row_filler(self, *, table: Table) -> RowFiller | None:
        """What fills new rows of ``table`` (None when nothing needs filling)."""

    def rows_added(self, *, table: Table, errors: dict[int, dict[str, str]]) -> None:
        """New rows were inserted; ``errors``: the cells their filler could not compute, by
        row id and column key."""

    def columns_reading(self, *, table: Table, key: str) -> list[str]:
        """The labels of the computed columns that read the column ``key``."""

    def values_changed(self, *, table: Table, keys: set[str]) -> None:
        """The values of these columns changed in bulk (a retype): update what reads them."""

    def condition_q(self, *, column: Column, condition: Condition) -> Q | None:
        """A filter condition on a computed column (its status, a field of its answer)."""


class _Nothing:
    """The provider when no app computes columns."""

    def attach_cells(self, *, rows: Sequence[Any], columns: Sequence[Column], since=None) -> None:
        for row in rows:
            row.computed = {}

    def attach_headers(self, *, columns: Sequence[Column]) -> None:
        return None

    def toolbar(self, *, table: Table, columns: Sequence[Column]) -> dict[str, Any]:
        return {}

    def export_values(self, *, rows, columns, chunk_size: int) -> Iterator[dict[str, Any]]:
        for _, values in rows:
            yield values

    def row_filler(self, *, table: Table) -> RowFiller | None:
        return None

    def rows_added(self, *, table: Table, errors: dict[int, dict[str, str]]) -> None:
        return None

    def columns_reading(self, *, table: Table, key: str) -> list[str]:
        return []

    def values_changed(self, *, table: Table, keys: set[str]) -> None:
        return None

    def condition_q(self, *, column: Column, condition: Condition) -> Q | None:
        return None


_provider: ComputedColumns = _Nothing()


def register(provider: ComputedColumns) -> None:
    """Make ``provider`` the one the core asks (the enrichment app, at start)."""
    global _provider
    _provider = provider


def provider() -> ComputedColumns:
    return _provider
