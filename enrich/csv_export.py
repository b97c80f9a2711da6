"""CSV export: the table as the user sees it, streamed in constant memory."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from enrich.columns import columns_for_table
from enrich.grid import GridQuery, rows_for_export
from enrich.kinds import NUMBER_PATTERN, kind_for
from enrich.models import Column, Table

ROWS_PER_CHUNK = 1000
# Spreadsheet apps run a cell starting with these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class ExportOptions:
    """``bom`` helps Excel read UTF-8; ``neutralise`` prefixes formula-like text with ``'``."""

    bom: bool = False
    neutralise: bool = True
    query: GridQuery | None = None


def neutralised(text: str) -> str:
    """``text`` made inert for spreadsheets; numbers such as ``-5`` or ``+3.2`` stay as they are."""
    if text.startswith(FORMULA_PREFIXES) and not NUMBER_PATTERN.fullmatch(text):
        return "'" + text
    return text


def export_columns(*, table: Table) -> list[Column]:
    """The columns an export writes: the grid's order, hidden ones left out."""
    return [column for column in columns_for_table(table=table) if not column.hidden]


def csv_export_chunks(*, table: Table, options: ExportOptions) -> Iterator[str]:
    """The CSV text in chunks of ``ROWS_PER_CHUNK`` rows, header first."""
    columns = export_columns(table=table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    formatters = [(column.key, kind_for(column.kind).to_text) for column in columns]
    clean = neutralised if options.neutralise else _unchanged

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    if options.bom:
        buffer.write("\ufeff")
    writer.writerow([clean(column.label) for column in columns])
    yield take()
    pending = 0
    for values in rows_for_export(table=table, columns=columns, query=options.query):
        writer.writerow([_cell(values.get(key), to_text, clean) for key, to_text in formatters])
        pending += 1
        if pending >= ROWS_PER_CHUNK:
            pending = 0
            yield take()
    if pending:
        yield take()


def csv_export_filename(*, table: Table) -> str:
    """An ASCII-safe file name for the download."""
    return (SAFE_FILENAME.sub("_", table.name).strip(" ._") or "table") + ".csv"


def export_to_file(*, table: Table, options: ExportOptions, stream: Any) -> int:
    """Write the export to an open text stream (``manage.py export_csv``); returns bytes written
    as characters."""
    written = 0
    for chunk in csv_export_chunks(table=table, options=options):
        stream.write(chunk)
        written += len(chunk)
    return written


def _cell(value: Any, to_text: Any, clean: Any) -> str:
    # Each kind writes what it reads back (a JSON column's string "5" as "\"5\""), so an
    # export imports again unchanged; numbers come out as digits and are never neutralised.
    return "" if value is None else clean(to_text(value))


def _unchanged(text: str) -> str:
    return text
