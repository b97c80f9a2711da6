"""How one cell is shown: the single place the grid turns a stored value into HTML data.

The grid's ``cell`` partial renders a ``CellView`` and nothing else, so the next kinds (an
enrichment result with its status) only add fields here, not conditions in templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enrich.kinds import kind_for
from enrich.models import Column

SHOWN_CHARS = 300
EDITABLE_CHARS = 20_000


@dataclass(frozen=True)
class CellView:
    text: str
    raw: str
    css: str
    editable: bool = True
    href: str = ""
    note: str = ""
    error: str = ""
    status: str = ""
    #: The enrichment column whose detail panel the cell opens (computed cells only).
    source_id: int | None = None


#: What a computed cell says while it has no value to show.
STATUS_TEXT = {
    "pending": "Queued",
    "running": "Running…",
    "skipped": "Skipped",
    "cancelled": "Cancelled",
    "error": "Error",
}


def cell_view(
    *, values: dict[str, Any], column: Column, error: str = "", computed: Any = None
) -> CellView:
    """The view of ``column``'s cell in a row's ``values``; ``error`` from a refused edit.

    A computed column (an enrichment, a field of its results) shows ``computed``, its
    ``ComputedCell`` for this row, or nothing when the cell never ran."""
    kind = kind_for(column.kind)
    if kind.computed:
        return _computed_view(kind=kind, cell=computed)
    value = values.get(column.key)
    raw = kind.to_text(value)
    classes = ["cell", kind.css_class]
    note = ""
    if not kind.fits(value):
        classes.append("cell--mismatch")
        note = f"Not a valid {column.get_kind_display().lower()} value; kept as it was."
    if error:
        classes.append("cell--error")
    editable = len(raw) <= EDITABLE_CHARS
    if not editable:
        note = f"{len(raw) // 1024:,} KB: too long to edit in the grid."
    text = _shortened(raw)
    return CellView(
        text=text,
        raw=raw if editable else "",
        css=" ".join(classes),
        editable=editable,
        href=kind.link(value),
        note=note,
        error=error,
    )


def _computed_view(*, kind: Any, cell: Any) -> CellView:
    classes = ["cell", kind.css_class, "cell--computed"]
    if cell is None:
        return CellView(text="", raw="", css=" ".join(classes), editable=False, note="Not run yet.")
    # A formula's value shows as the typed kind of its output (a number right-aligned…).
    shown = kind_for(cell.shown_as) if getattr(cell, "shown_as", "") else kind
    if shown is not kind:
        classes.append(shown.css_class)
    classes.append(f"cell--{cell.status}")
    if cell.status == "done":
        text = shown.to_text(cell.value) if cell.value is not None else ""
        note = "" if text or kind.stored_in_row else "The answer has no value here."
    else:
        text = STATUS_TEXT.get(cell.status, cell.status)
        note = cell.error
    return CellView(
        text=_shortened(text),
        raw="",
        css=" ".join(classes),
        editable=False,
        note=note[:SHOWN_CHARS],
        # A formula's value shows as a plain value; only its error gets the status icon.
        status="" if kind.stored_in_row and cell.status == "done" else cell.status,
        # A formula's cell has no panel of its own: its error is its note.
        source_id=None if kind.stored_in_row else cell.source_id,
    )


def _shortened(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
