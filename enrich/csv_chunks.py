"""A CSV file's records turned into rows ready to insert, a chunk at a time.

This is the import's inner loop, so it is written for speed: each record becomes the JSON
text of its row's values directly (no dict, no generic encoder), and the next chunk is read
in a thread while the database writes the previous one. Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from json.encoder import encode_basestring as encode_json_string
from typing import Any, TypeVar

from enrich.computed import RowFiller
from enrich.csv_read import CsvReader, Problems
from enrich.exceptions import CsvTooManyRows, InvalidValue
from enrich.rows import VALUES_ENCODER

T = TypeVar("T")
# (field index, column key, parser or None for a text column, header) for each mapped header.
Target = tuple[int, str, Callable[[str], Any] | None, str]


class RowEncoder:
    """Turns a record of the file into its row's values, as JSON object text.

    Text columns, usually most of them, are written straight from the fields with the json
    module's C string encoder (no dict, no generic encoder: this is the import's inner loop);
    other kinds are parsed one by one. An empty field is an absent key: smaller rows, same
    export.
    """

    def __init__(self, targets: Sequence[Target], *, problems: Problems) -> None:
        width = max((index for index, *_ in targets), default=-1) + 1
        # For each field of a record, '"key":' when it goes to a text column, else "".
        self.targets = list(targets)
        self.text_names = [""] * width
        self.typed: list[tuple[int, str, Callable[[str], Any], str]] = []
        self.headers = [""] * width
        for index, key, parse, header in targets:
            name = encode_json_string(key) + ":"
            self.headers[index] = header
            if parse is None:
                self.text_names[index] = name
            else:
                self.typed.append((index, name, parse, header))
        self.problems = problems

    def encode(self, line: int, record: list[str]) -> str:
        if "\x00" in "".join(record):
            record = self._without_nul(line, record)
        quote = encode_json_string
        names = zip(self.text_names, record, strict=False)
        fields = [name + quote(raw) for name, raw in names if name and raw and not raw.isspace()]
        for index, name, parse, header in self.typed:
            raw = record[index]
            if not raw or raw.isspace():
                continue
            try:
                value = parse(raw)
            except InvalidValue as error:
                fields.append(name + quote(raw))
                self.problems.add(line, f"{header}: {error} Kept as text.")
            else:
                if value is not None:
                    fields.append(name + VALUES_ENCODER.encode(value))
        return "{" + ",".join(fields) + "}"

    def _without_nul(self, line: int, record: list[str]) -> list[str]:
        # Databases refuse NUL in text; it is never meaningful in a CSV value.
        cleaned = []
        for index, raw in enumerate(record):
            if "\x00" in raw:
                raw = raw.replace("\x00", "")
                if index < len(self.headers) and self.headers[index]:
                    self.problems.add(line, f"{self.headers[index]}: NUL characters removed.")
            cleaned.append(raw)
        return cleaned


class FilledRows:
    """A ``RowEncoder`` whose rows are completed by a ``RowFiller`` (a table's formulas)
    before they are written; the cells it could not compute are kept by row number (0-based,
    in the order rows are encoded). Touches no database: it runs in the import's reading
    thread. Only the cells the formulas read are turned into values; the row's text is the
    encoder's own, with the computed keys added at its end."""

    def __init__(self, encoder: RowEncoder, filler: RowFiller):
        self.encoder = encoder
        self.filler = filler
        self.reads = [(index, key, parse) for index, key, parse, _ in encoder.targets
                      if key in filler.reads]  # fmt: skip
        self.writes = [(key, encode_json_string(key) + ":") for key in filler.writes]
        self.errors: dict[int, dict[str, str]] = {}
        self.count = 0

    def encode(self, line: int, record: list[str]) -> str:
        text = self.encoder.encode(line, record)
        values: dict[str, Any] = {}
        for index, key, parse in self.reads:
            raw = (record[index] if index < len(record) else "").replace("\x00", "")
            if not raw or raw.isspace():
                continue
            try:
                values[key] = parse(raw) if parse is not None else raw
            except InvalidValue:
                values[key] = raw  # as the encoder keeps it (it has said why)
        if failed := self.filler.fill(values):
            self.errors[self.count] = failed
        self.count += 1
        added = [name + VALUES_ENCODER.encode(values[key]) for key, name in self.writes
                 if values.get(key) is not None]  # fmt: skip
        if not added:
            return text
        return text[:-1] + ("," if text != "{}" else "") + ",".join(added) + "}"


@dataclass(frozen=True)
class Chunk:
    """Rows of the file ready to insert, and where the reader stood after them."""

    values: list[str]  # each row's values as a JSON object
    bytes_read: int
    skipped: int
    problems: list[dict]
    problem_count: int


def read_chunks(
    reader: CsvReader, encoder: RowEncoder | FilledRows, *, size: int, max_rows: int
) -> Iterator[Chunk]:
    """The file's rows in chunks of ``size``; the last chunk, maybe empty, carries the
    reader's final counts. Raises ``CsvError`` (``CsvTooManyRows`` past ``max_rows``)."""
    values: list[str] = []

    def chunk() -> Chunk:
        problems = reader.problems
        return Chunk(
            values=values,
            bytes_read=reader.bytes_read,
            skipped=reader.skipped,
            problems=list(problems.items),
            problem_count=problems.count,
        )

    for count, (line, record) in enumerate(reader.rows()):
        if count >= max_rows:
            raise CsvTooManyRows(line=line, limit=max_rows)
        values.append(encoder.encode(line, record))
        if len(values) >= size:
            yield chunk()
            values = []
    yield chunk()


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, the next one always made in a thread while the caller uses this one.

    Reading and encoding the file is Python work; writing a chunk is mostly waiting for the
    database, which releases the GIL. Overlapping the two takes the import's time from
    their sum to the larger of them. ``items`` must not touch the database.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-import-read") as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item
