"""Reading CSV files people actually have: any common encoding, delimiter and dialect.

Everything is read as text (the standard ``csv`` module never guesses types, so ``NA``,
``null`` and ``00123`` arrive exactly as written) and typed later by the target column.
We use ``csv`` rather than ``pandas.read_csv(dtype=str, keep_default_na=False)`` for the
import itself because it streams in constant memory, reports the physical line of every
record (quoted newlines included) and lets short and long rows be reported one by one,
which pandas' C parser either refuses or fills in silently.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from enrich.exceptions import (
    CsvCellTooLarge,
    CsvEmpty,
    CsvError,
    CsvMalformed,
    CsvTooManyColumns,
)

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 64 * 1024
VALIDATE_CHUNK_BYTES = 1024 * 1024
PROBLEMS_KEPT = 100
# A valid UTF-8 multi-byte sequence; cp1252 text almost never contains one by accident.
UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


@dataclass(frozen=True)
class CsvFormat:
    """How to decode and split a file, as detected from its bytes."""

    encoding: str
    delimiter: str
    # UTF-8 with a few invalid bytes: they are shown as U+FFFD and reported, not guessed at.
    replace_errors: bool = False


@dataclass
class Problems:
    """Per-line notes that did not stop an import; the first ``PROBLEMS_KEPT`` are kept."""

    items: list[dict] = field(default_factory=list)
    count: int = 0

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.items) < PROBLEMS_KEPT:
            # Messages quote the file; NUL can't be stored in PostgreSQL JSON.
            self.items.append({"line": line, "message": message.replace("\x00", "")})


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (the import's progress)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")  # as _pyio.FileIO.readinto: indexed by byte
        data = self.stream.read(len(view))
        size = len(data)
        view[:size] = data
        self.bytes_read += size
        return size


def detect_format(stream: IO[bytes]) -> CsvFormat:
    """Detect the encoding (BOMs, UTF-16, UTF-8, else cp1252 or latin-1) and the delimiter.

    Reads the whole file once to validate UTF-8 (C speed, constant memory) and leaves the
    stream at its start.
    """
    stream.seek(0)
    head = stream.read(SAMPLE_BYTES)
    if not head.strip():
        raise CsvEmpty()
    encoding, replace_errors = _detect_encoding(stream, head)
    stream.seek(0)
    sample = _decode_sample(head, encoding)
    return CsvFormat(
        encoding=encoding, delimiter=_sniff_delimiter(sample), replace_errors=replace_errors
    )


def _detect_encoding(stream: IO[bytes], head: bytes) -> tuple[str, bool]:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", False
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4 and odd.count(0) > len(odd) * 0.3 and not even.count(0):
        return "utf-16-le", False
    if len(head) >= 4 and even.count(0) > len(even) * 0.3 and not odd.count(0):
        return "utf-16-be", False
    if _valid_utf8(stream):
        return "utf-8", False
    valid, invalid = _utf8_evidence(stream)
    if valid and invalid <= valid:
        return "utf-8", True
    if _decodes(stream, "cp1252"):
        return "cp1252", False
    return "latin-1", False


def _valid_utf8(stream: IO[bytes]) -> bool:
    return _decodes(stream, "utf-8")


def _decodes(stream: IO[bytes], encoding: str) -> bool:
    stream.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := stream.read(VALIDATE_CHUNK_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf8_evidence(stream: IO[bytes]) -> tuple[int, int]:
    """Valid multi-byte UTF-8 sequences and undecodable bytes in the file."""
    stream.seek(0)
    valid = invalid = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := stream.read(VALIDATE_CHUNK_BYTES):
        valid += len(UTF8_MULTIBYTE.findall(chunk))
        invalid += decoder.decode(chunk).count("\ufffd")
    return valid, invalid


def _decode_sample(head: bytes, encoding: str) -> str:
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    # Drop the last, probably cut, line unless the sample is the whole file.
    if len(head) >= SAMPLE_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]
    return text


def _sniff_delimiter(sample: str) -> str:
    """The candidate that splits the first records into the same, largest number of fields."""
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        records: list[list[str]] = []
        try:
            for record in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
                if record:
                    records.append(record)
                if len(records) >= 50:
                    break
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        consistent = sum(1 for record in records if len(record) == width)
        score = (consistent, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def unique_headers(raw: list[str]) -> list[str]:
    """Headers trimmed, empty ones named ``Column N``, duplicates suffixed ``(2)``, ``(3)``…

    Linear in the number of headers: each name remembers the next suffix to try, so a file
    whose header repeats one name thousands of times costs no more than any other.
    """
    names: list[str] = []
    seen: set[str] = set()
    next_number: dict[str, int] = {}
    for index, header in enumerate(raw, start=1):
        # NUL can't be stored in PostgreSQL text or JSON, and never means anything in a name.
        base = " ".join(header.replace("\x00", "").split()) or f"Column {index}"
        name, number = base, next_number.get(base.lower(), 2)
        while name.lower() in seen:
            name = f"{base} ({number})"
            number += 1
        next_number[base.lower()] = number
        seen.add(name.lower())
        names.append(name)
    return names


class CsvReader:
    """Records of a CSV file after its header, with the physical line each starts on."""

    def __init__(
        self, stream: IO[bytes], fmt: CsvFormat, *, max_cell_chars: int, max_columns: int
    ) -> None:
        self.counter = CountingReader(stream)
        self.text = io.TextIOWrapper(
            io.BufferedReader(self.counter, buffer_size=256 * 1024),
            encoding=fmt.encoding,
            errors="replace" if fmt.replace_errors else "strict",
            newline="",
        )
        self.fmt = fmt
        self.max_cell_chars = max_cell_chars
        # The limit is process-wide; every reader sets the same configured value.
        csv.field_size_limit(max_cell_chars)
        self.reader = csv.reader(self.text, delimiter=fmt.delimiter, strict=True)
        self.problems = Problems()
        self.skipped = 0
        header = next(self._records(), None)
        if header is None:
            raise CsvEmpty()
        self.header_line, raw_headers = header
        # Before anything is made of them: a header of 100,000 names is refused at once.
        if len(raw_headers) > max_columns:
            raise CsvTooManyColumns(count=len(raw_headers), limit=max_columns)
        self.headers = unique_headers(raw_headers)
        if raw_headers != self.headers:
            renamed = [
                f"“{old}” → “{new}”"
                for old, new in zip(raw_headers, self.headers, strict=True)
                if old != new
            ]
            self.problems.add(self.header_line, "Header names renamed: " + ", ".join(renamed[:10]))

    @property
    def bytes_read(self) -> int:
        return self.counter.bytes_read

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        reader = self.reader
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise self._explain(error, start) from None
            except UnicodeDecodeError:
                raise CsvMalformed(
                    f"the bytes are not valid {self.fmt.encoding.upper()}. Save the file as UTF-8.",
                    line=start,
                ) from None
            if record:
                yield start, record

    def _explain(self, error: csv.Error, line: int) -> CsvError:
        text = str(error)
        if "field larger than field limit" in text:
            return CsvCellTooLarge(line=line, limit_kb=self.max_cell_chars // 1024)
        if "unexpected end of data" in text:
            return CsvMalformed(
                "a quoted value starting on or after this line is never closed. "
                "Nothing was imported.",
                line=line,
            )
        return CsvMalformed(f"the CSV quoting is broken ({text}). Nothing was imported.", line=line)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data records as exactly as many fields as headers; ragged ones reported per line:
        short rows are padded with empty values, long rows skipped unless the extra values
        are empty."""
        width = len(self.headers)
        for line, record in self._records():
            size = len(record)
            if size < width:
                self.problems.add(
                    line, f"{size} values for {width} columns; the missing ones are left empty."
                )
                record.extend([""] * (width - size))
            elif size > width:
                if any(record[width:]):
                    self.problems.add(
                        line,
                        f"{size} values for {width} columns; row skipped "
                        "(fix the line and import it again).",
                    )
                    self.skipped += 1
                    continue
                del record[width:]
            if self.fmt.replace_errors and any("\ufffd" in value for value in record):
                self.problems.add(line, "invalid UTF-8 bytes were replaced with “\ufffd”.")
            yield line, record
