"""Hostile CSV files and what importing each must do.

Each case builds its bytes here (big ones at test time, nothing large is committed) and
states the outcome: the headers and rows imported and the lines reported, or the error.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    name: str
    data: Callable[[], bytes]
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # expected, as exported back (text)
    row_count: int | None = None  # when rows are too many to spell out
    problem_lines: list[int] = field(default_factory=list)
    error: str = ""  # a failed import: this text in the message
    encoding: str = ""
    delimiter: str = ","


def raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def big_field() -> bytes:
    return b"id,blob\n1," + b"x" * (5 * 1024 * 1024) + b"\n2,small\n"


def big_quoted_field_with_newlines() -> bytes:
    text = ("line\n" * 250_000)[:-1]
    return b'id,blob\n1,"' + text.encode() + b'"\n'


def wide(columns: int, *, rows: int = 1) -> Callable[[], bytes]:
    """A file ``columns`` wide: ``c0,c1,…`` and ``rows`` lines of short values."""

    def build() -> bytes:
        header = ",".join(f"c{number}" for number in range(columns))
        line = ",".join("v" for _ in range(columns))
        return (header + "\n" + (line + "\n") * rows).encode()

    return build


def header_only_repeating(size: int) -> bytes:
    """A header line of ``size`` bytes repeating one name: quadratic to make unique, once."""
    return (",".join(["name"] * (size // 5))).encode() + b"\n"


CASES = [
    Case(
        "utf8_plain",
        raw(b"name,email\nAda,ada@example.com\nGrace,grace@example.com\n"),
        ["name", "email"],
        [["Ada", "ada@example.com"], ["Grace", "grace@example.com"]],
        encoding="utf-8",
    ),
    Case(
        "utf8_bom_crlf",
        raw(codecs.BOM_UTF8 + "name,city\r\nZoë,Zürich\r\n".encode()),
        ["name", "city"],
        [["Zoë", "Zürich"]],
        encoding="utf-8-sig",
    ),
    Case(
        "utf16_le_bom_tabs",
        raw(codecs.BOM_UTF16_LE + "name\tcity\nJosé\tSão Paulo\n".encode("utf-16-le")),
        ["name", "city"],
        [["José", "São Paulo"]],
        encoding="utf-16",
        delimiter="\t",
    ),
    Case(
        "utf16_be_without_bom",
        raw("name;city\nJosé;Málaga\n".encode("utf-16-be")),
        ["name", "city"],
        [["José", "Málaga"]],
        encoding="utf-16-be",
        delimiter=";",
    ),
    Case(
        "cp1252_excel_semicolons",
        raw("name;price;note\nCafé;€5;“smart” quotes\n".encode("cp1252")),
        ["name", "price", "note"],
        [["Café", "€5", "“smart” quotes"]],
        encoding="cp1252",
        delimiter=";",
    ),
    Case(
        "latin1_with_bytes_cp1252_lacks",
        raw(b"name|code\nA\x81B|\xe9t\xe9\n"),
        ["name", "code"],
        [["A\x81B", "été"]],
        encoding="latin-1",
        delimiter="|",
    ),
    Case(
        "utf8_with_a_few_invalid_bytes",
        raw("name,city\nZoë,Zürich\nBad,".encode() + b"\xff\xfe\nOk," + "Köln\n".encode()),
        ["name", "city"],
        [["Zoë", "Zürich"], ["Bad", "\ufffd\ufffd"], ["Ok", "Köln"]],
        problem_lines=[3],
        encoding="utf-8",
    ),
    Case(
        "quoted_newlines_and_quotes",
        raw(b'id,text\n1,"first\nsecond ""quoted"""\n2,"a,b"\n3,plain\n'),
        ["id", "text"],
        [["1", 'first\nsecond "quoted"'], ["2", "a,b"], ["3", "plain"]],
    ),
    Case(
        "ragged_rows_reported_per_line",
        raw(b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12,\n13,14,15\n"),
        ["a", "b", "c"],
        [["1", "2", "3"], ["4", "5", ""], ["10", "11", "12"], ["13", "14", "15"]],
        problem_lines=[3, 4],
    ),
    Case(
        "duplicate_and_empty_headers",
        raw(b"email,,Email, email ,\nx,y,z,w,v\n"),
        ["email", "Column 2", "Email (2)", "email (3)", "Column 5"],
        [["x", "y", "z", "w", "v"]],
        problem_lines=[1],
    ),
    Case(
        "na_null_and_leading_zeros_stay_text",
        raw(b"zip,flag,missing,none\n00123,NA,null,None\n0,N/A,NaN,\n"),
        ["zip", "flag", "missing", "none"],
        [["00123", "NA", "null", "None"], ["0", "N/A", "NaN", ""]],
    ),
    Case(
        "formula_payloads_are_stored_as_text",
        raw(b'name,payload\nx,=HYPERLINK("http://evil")\ny,+1+1\nz,-5\nw,@SUM(A1)\n'),
        ["name", "payload"],
        [["x", '=HYPERLINK("http://evil")'], ["y", "+1+1"], ["z", "-5"], ["w", "@SUM(A1)"]],
    ),
    Case(
        "blank_lines_are_skipped",
        raw(b"a,b\n\n1,2\n\n\n3,4\n"),
        ["a", "b"],
        [["1", "2"], ["3", "4"]],
    ),
    Case(
        "single_column_without_delimiter",
        raw(b"domain\nexample.com\nexample.org\n"),
        ["domain"],
        [["example.com"], ["example.org"]],
    ),
    Case("header_only", raw(b"a,b,c\n"), ["a", "b", "c"], []),
    Case("empty_file", raw(b""), error="The file is empty"),
    Case("whitespace_only", raw(b" \n\n \r\n"), error="The file is empty"),
    Case(
        "a_5mb_field_over_the_cell_limit",
        big_field,
        error="Line 2: a value is longer than 1,024 KB",
    ),
    Case(
        "a_quoted_field_over_the_limit_across_many_lines",
        big_quoted_field_with_newlines,
        error="Line 2: a value is longer than 1,024 KB",
    ),
    Case(
        "unclosed_quote",
        raw(b'a,b\n1,2\n3,"never closed\n4,5\n'),
        error="Line 3: a quoted value starting on or after this line is never closed",
    ),
    Case(
        "text_after_a_closing_quote",
        raw(b'a,b\n1,"x"y\n'),
        error="Line 2: the CSV quoting is broken",
    ),
    Case(
        "nul_bytes_removed_and_reported",
        raw(b"a,b\nx\x00y,z\n"),
        ["a", "b"],
        [["xy", "z"]],
        problem_lines=[2],
    ),
    Case(
        "ten_thousand_columns_77kb",
        wide(10_000),
        error="The file has 10,000 columns; a table holds at most 500 (ENRICH_MAX_COLUMNS)",
    ),
    Case(
        "a_900kb_header_of_one_name",
        lambda: header_only_repeating(900 * 1024),
        error="columns; a table holds at most 500 (ENRICH_MAX_COLUMNS)",
    ),
    Case(
        "five_hundred_columns_fit",
        wide(500, rows=2),
        [f"c{number}" for number in range(500)],
        [["v"] * 500] * 2,
    ),
]
