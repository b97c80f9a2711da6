"""``{% cell_view row column as cell %}``: the grid's one way to show a cell."""

from __future__ import annotations

from typing import Any

from django import template

from enrich.cells import CellView
from enrich.cells import cell_view as build_cell_view
from enrich.models import Column

register = template.Library()


@register.simple_tag
def cell_view(row: Any, column: Column, error: str = "") -> CellView:
    # The grid attaches its page's computed cells (one query) as ``row.computed``.
    computed = getattr(row, "computed", {}).get(column.pk)
    return build_cell_view(values=row.values, column=column, error=error, computed=computed)


@register.filter
def thousands(number: int) -> str:
    """``12345`` → ``12,345``."""
    return f"{number:,}"


@register.filter
def sort_params(query: Any, key: str) -> str:
    """The grid's parameters after a click on the header of column ``key`` (``GridQuery``)."""
    return str(query.sort_params(key))
