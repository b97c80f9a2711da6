"""Named errors of the table domain; each message is shown to the user as it is."""

from __future__ import annotations


class TableError(Exception):
    """Base of the errors a user can act on (a message in the page, never a 500)."""


class InvalidValue(TableError):
    """A value that does not fit a column's kind; the cell keeps its old value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ColumnLabelRequired(TableError):
    def __init__(self) -> None:
        super().__init__("Give the column a name.")


class UnknownColumn(TableError):
    def __init__(self, key: str) -> None:
        super().__init__(f"There is no column “{key}” in this table (was it deleted?).")


class TooManyColumns(TableError):
    def __init__(self, *, limit: int, adding: int = 1) -> None:
        what = "another column" if adding == 1 else f"{adding:,} more columns"
        super().__init__(
            f"A table holds at most {limit:,} columns (ENRICH_MAX_COLUMNS); there is no room for "
            f"{what}. Delete columns you don't need first."
        )


class ColumnInUse(TableError):
    """Computed columns read the column: it cannot be deleted from under them."""

    def __init__(self, label: str, readers: list[str]) -> None:
        names = ", ".join(f"“{reader}”" for reader in readers)
        them = "it" if len(readers) == 1 else "them"
        super().__init__(f"“{label}” is read by {names}: change or delete {them} first.")


class ImportNotAllowed(TableError):
    """The import job is not in a state that allows this step (already started, finished…)."""


class CsvError(TableError):
    """A CSV file that cannot be imported; ``line`` is its 1-based physical line, if known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"Line {line:,}: {message}" if line else message)


class CsvEmpty(CsvError):
    def __init__(self) -> None:
        super().__init__("The file is empty: it needs a header line naming the columns.")


class CsvTooLarge(CsvError):
    def __init__(self, *, size_mb: float, limit_mb: int) -> None:
        super().__init__(
            f"The file is {size_mb:,.1f} MB; the limit is {limit_mb:,} MB "
            "(ENRICH_CSV_MAX_FILE_MB). Split it and import the parts one after the other."
        )


class CsvTooManyRows(CsvError):
    def __init__(self, *, line: int, limit: int) -> None:
        super().__init__(
            f"the file has more than {limit:,} rows (ENRICH_CSV_MAX_ROWS). "
            "Nothing was imported; split the file and import the parts.",
            line=line,
        )


class CsvTooManyColumns(CsvError):
    def __init__(self, *, count: int, limit: int) -> None:
        super().__init__(
            f"The file has {count:,} columns; a table holds at most {limit:,} "
            "(ENRICH_MAX_COLUMNS). Nothing was imported; remove the columns you don't need."
        )


class CsvCellTooLarge(CsvError):
    def __init__(self, *, line: int, limit_kb: int) -> None:
        super().__init__(
            f"a value is longer than {limit_kb:,} KB (ENRICH_CSV_MAX_CELL_KB). "
            "Nothing was imported.",
            line=line,
        )


class CsvMalformed(CsvError):
    """The CSV syntax itself is broken (an unclosed quote, a NUL byte…)."""
