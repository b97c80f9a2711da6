"""The formula function library: each function's result, blanks, unicode, wrong types, and
hostile inputs (values grown past the sandbox limit, slow regular expressions) refused quickly
and in little memory."""

from __future__ import annotations

import ast
import re
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import UndefinedError

from connectors import functions, sandbox
from connectors.errors import TemplateError
from connectors.functions import (
    FUNCTIONS,
    MAX_PATTERN_LENGTH,
    add_days,
    coalesce,
    compact,
    concat,
    diff_days,
    domain,
    filter_by,
    first,
    format_date,
    format_number,
    get,
    if_else,
    is_email,
    is_empty,
    join,
    last,
    left,
    length,
    lower,
    map_field,
    mid,
    parse_date,
    parse_json,
    regex_extract,
    regex_match,
    regex_replace,
    replace,
    right,
    slug,
    split,
    strip_www,
    suggest,
    to_json,
    to_number,
    today,
    trim,
    unique,
    upper,
    url_host,
    url_path,
    url_query,
)
from connectors.sandbox import BoundedSandboxEnvironment
from connectors.template_values import RowView

#: What any one hostile call may cost at most (the limit itself is 1,000,000 characters).
MAX_PEAK_BYTES = 50 * 1024 * 1024
#: How long a runaway regular expression may take (its own timeout is 0.25 s).
MAX_REGEX_SECONDS = 1.0

UNICODE = "Ünïcode 名前"
LOOKUP = {"data": {"employees": [{"name": "Ada", "age": 36}, {"name": "Grace", "age": 45}]}}
PEOPLE = [
    {"name": "Ada", "team": {"id": 1}},
    {"name": "Grace", "team": {"id": 2}},
    {"name": "Alan", "team": {"id": 1}},
]


# --- normal values --------------------------------------------------------------------------

EXAMPLES: list[tuple[str, tuple[Any, ...], Any]] = [
    ("lower", ("ACME Inc",), "acme inc"),
    ("lower", (UNICODE,), "ünïcode 名前"),
    ("lower", (42,), "42"),
    ("upper", ("acme",), "ACME"),
    ("upper", ("straße",), "STRASSE"),
    ("trim", ("  Ada Lovelace \n",), "Ada Lovelace"),
    ("trim", (f"\u3000{UNICODE} ",), UNICODE),
    ("split", ("a,b,,c", ","), ["a", "b", "", "c"]),
    ("split", ("  one two\tthree ",), ["one", "two", "three"]),
    ("split", (f"{UNICODE}|x", "|"), [UNICODE, "x"]),
    ("join", (["a", "b", 3], ", "), "a, b, 3"),
    ("join", (["Paris", None, "", "France"], ", "), "Paris, France"),
    ("join", (["名前", "Ü"], "・"), "名前・Ü"),
    ("replace", ("Acme Inc.", " Inc.", ""), "Acme"),
    ("replace", ("a-b-c", "-", "--"), "a--b--c"),
    ("replace", (UNICODE, "名前", "name"), "Ünïcode name"),
    ("replace", ("abc", "", "x"), "abc"),
    ("regex_match", ("VP of Sales", r"(?i)^vp\b"), True),
    ("regex_match", ("Engineer", r"(?i)^vp\b"), False),
    ("regex_match", (UNICODE, r"\p{Han}+"), True),
    ("regex_extract", ("VP of Sales", r"(?i)vp of (\w+)"), "Sales"),
    ("regex_extract", ("order 1234 shipped", r"\d+"), "1234"),
    ("regex_extract", ("2025-01-31", r"(\d+)-(\d+)", 2), "01"),
    ("regex_extract", ("2025-01-31", r"(?P<year>\d{4})", "year"), "2025"),
    ("regex_extract", ("no digits", r"(\d+)"), None),
    ("regex_extract", (UNICODE, r"(\p{Han}+)"), "名前"),
    ("regex_replace", ("(555) 123-4567", r"\D", ""), "5551234567"),
    ("regex_replace", ("Doe, Jane", r"(\w+), (\w+)", r"\2 \1"), "Jane Doe"),
    ("regex_replace", (UNICODE, r"\p{Han}", "?"), "Ünïcode ??"),
    ("left", ("Enrich", 3), "Enr"),
    ("left", (UNICODE, 2), "Ün"),
    ("left", ("ab", 10), "ab"),
    ("right", ("Enrich", 3), "ich"),
    ("right", (UNICODE, 2), "名前"),
    ("right", ("ab", 0), ""),
    ("mid", ("Enrich", 2, 3), "nri"),
    ("mid", (UNICODE, 9, 2), "名前"),
    ("mid", ("abc", "2", 5.0), "bc"),
    ("length", ("Ada",), 3),
    ("length", (UNICODE,), 10),
    ("length", ([1, 2, 3],), 3),
    ("length", ({"a": 1},), 1),
    ("slug", ("Hello, World!",), "hello-world"),
    ("slug", ("Ünïcode Straße — Jane's Café",), "unicode-strasse-janes-cafe"),
    ("slug", (UNICODE,), "unicode"),
    ("concat", ("Ada", " ", "Lovelace"), "Ada Lovelace"),
    ("concat", ("n=", 3, None, True), "n=3true"),
    ("concat", (UNICODE, "!"), f"{UNICODE}!"),
    ("domain", ("Jane@WWW.Acme.com",), "acme.com"),
    ("domain", ("https://www.acme.com:8443/about?x=1",), "acme.com"),
    ("domain", ("acme.co.uk/team",), "acme.co.uk"),
    ("domain", ("Jane Doe <jane@acme.com>",), "acme.com"),
    ("domain", ("mailto:jane@acme.com",), "acme.com"),
    ("domain", ("medium.com/@jane",), "medium.com"),
    ("domain", ("jürgen@Müller.de",), "müller.de"),
    ("domain", ("n/a",), None),
    ("strip_www", ("www.acme.com",), "acme.com"),
    ("strip_www", ("api.acme.com",), "api.acme.com"),
    ("url_host", ("https://WWW.Acme.com:8080/x",), "www.acme.com"),
    ("url_host", ("acme.com/pricing",), "acme.com"),
    ("url_host", ("http://[::1]:8000/",), "[::1]"),
    ("url_path", ("https://linkedin.com/in/ada?trk=1",), "/in/ada"),
    ("url_path", ("acme.com",), "/"),
    ("url_path", ("https://例え.jp/名前",), "/名前"),
    ("url_query", ("https://x.com/?utm_source=news%20letter&id=7", "utm_source"), "news letter"),
    ("url_query", ("https://x.com/?id=7", "missing"), None),
    ("url_query", ("x.com/?q=%E5%90%8D%E5%89%8D", "q"), "名前"),
    ("is_email", ("jane@acme.com",), True),
    ("is_email", (" jane.doe+tag@mail.acme.co.uk ",), True),
    ("is_email", ("jürgen@müller.de",), True),
    ("is_email", ("jane@acme",), False),
    ("is_email", ("jane..doe@acme.com",), False),
    ("is_email", ("Jane <jane@acme.com>",), False),
    ("is_email", (42,), False),
    ("round", (2.5,), 3),
    ("round", (-2.5,), -3),
    ("round", (2.675, 2), 2.68),
    ("round", (1234.5678, 1), 1234.6),
    ("round", (1234, -2), 1200),
    ("round", ("1,234.5",), 1235),
    ("round", (7, 2), 7),
    ("min", (3, "2", 5), 2),
    ("min", ([3, None, 1.5],), 1.5),
    ("max", (3, "12", 5), 12),
    ("max", ([[]][0],), None),
    ("sum", ([1, 2, "3", None],), 6),
    ("sum", (1.5, 2),3.5),
    ("sum", ([],), 0),
    ("format_number", (1234.5, 2), "1,234.50"),
    ("format_number", (1234567,), "1,234,567"),
    ("format_number", (1234.5, 2, "."), "1.234,50"),
    ("format_number", (1234.5, 1, ""), "1234.5"),
    ("format_number", (-0.001, 2), "0.00"),
    ("format_number", ("2.5",), "3"),
    ("to_number", ("1,234.50",), 1234.5),
    ("to_number", (" 42 ",), 42),
    ("to_number", ("-$1,200",), -1200),
    ("to_number", ("1e3",), 1000.0),
    ("to_number", ("12 apples",), None),
    ("to_number", (UNICODE,), None),
    ("to_number", (True,), 1),
    ("parse_date", ("2025-01-31",), "2025-01-31"),
    ("parse_date", ("2025/01/31",), "2025-01-31"),
    ("parse_date", ("31.01.2025", "%d.%m.%Y"), "2025-01-31"),
    ("parse_date", ("Jan 31, 2025", "%b %d, %Y"), "2025-01-31"),
    ("parse_date", (1738281600,), "2025-01-31"),
    ("parse_date", ("1738281600",), "2025-01-31"),
    ("parse_date", (1738281600000,), "2025-01-31"),
    ("parse_date", ("2025-01-31T23:30:00-05:00",), "2025-02-01"),
    ("parse_date", ("2025-01-31T10:00:00Z",), "2025-01-31"),
    ("format_date", ("2025-01-31", "%d.%m.%Y"), "31.01.2025"),
    ("format_date", ("2025-01-31", "%b %-d, %Y"), "Jan 31, 2025"),
    ("format_date", ("2025-01-31T10:05:00Z", "%H:%M"), "10:05"),
    ("format_date", ("2025-01-31", "%Y 年 %m 月"), "2025 年 01 月"),
    ("format_date", ("2025-01-31",), "2025-01-31"),
    ("add_days", ("2025-01-31", 1), "2025-02-01"),
    ("add_days", ("2025-03-01", -1), "2025-02-28"),
    ("add_days", ("2025-01-31T10:00:00Z", 2), "2025-02-02T10:00:00Z"),
    ("add_days", ("2025-01-31", "7"), "2025-02-07"),
    ("diff_days", ("2025-03-01", "2025-02-01"), 28),
    ("diff_days", ("2025-01-01", "2025-01-31"), -30),
    ("diff_days", ("2025-01-31T23:00:00Z", "2025-01-31"), 0),
    ("get", (LOOKUP, "data.employees.0.name"), "Ada"),
    ("get", (LOOKUP, "data.employees[1].age"), 45),
    ("get", (LOOKUP, "data.employees.-1.name"), "Grace"),
    ("get", (LOOKUP, "data.employees.9.name", "nobody"), "nobody"),
    ("get", (LOOKUP, "data.missing", "n/a"), "n/a"),
    ("get", ({"名前": {"ü": 1}}, "名前.ü"), 1),
    ("get", ([10, 20], 1), 20),
    ("get", (LOOKUP, ""), LOOKUP),
    ("first", ([1, 2, 3],), 1),
    ("first", ([],), None),
    ("last", ([1, 2, 3],), 3),
    ("last", ([UNICODE],), UNICODE),
    ("map_field", (PEOPLE, "name"), ["Ada", "Grace", "Alan"]),
    ("map_field", (PEOPLE, "team.id"), [1, 2, 1]),
    ("map_field", ([{"a": 1}, "text", {"b": 2}], "a"), [1, None, None]),
    ("filter_by", (PEOPLE, "team.id", 1), [PEOPLE[0], PEOPLE[2]]),
    ("filter_by", (PEOPLE, "team.id", "2"), [PEOPLE[1]]),
    ("filter_by", (PEOPLE, "name", "nobody"), []),
    ("unique", ([3, 1, 3, "3", 1],), [3, 1, "3"]),
    ("unique", ([1, True, {"a": 1}, {"a": 1}, [2], [2]],), [1, True, {"a": 1}, [2]]),
    ("compact", ([None, "", "  ", [], {}, 0, False, "x"],), [0, False, "x"]),
    ("to_json", ({"name": UNICODE, "tags": [1, None, True]},),
     '{"name": "Ünïcode 名前", "tags": [1, null, true]}'),
    ("to_json", ("say \"hi\"\n",), '"say \\"hi\\"\\n"'),
    ("parse_json", ('{"a": [1, 2.5, null, "名前"]}',), {"a": [1, 2.5, None, "名前"]}),
    ("parse_json", ({"already": "parsed"},), {"already": "parsed"}),
    ("coalesce", (None, "  ", [], "work@acme.com", "home@acme.com"), "work@acme.com"),
    ("coalesce", (None, 0), 0),
    ("coalesce", (None, ""), None),
    ("is_empty", ("  ",), True),
    ("is_empty", ({},), True),
    ("is_empty", (0,), False),
    ("is_empty", (UNICODE,), False),
    ("if_else", (True, "yes", "no"), "yes"),
    ("if_else", ("false", "yes", "no"), "no"),
    ("if_else", (0, "yes", "no"), "no"),
    ("if_else", ([1], "yes", "no"), "yes"),
    ("if_else", (None, "yes"), None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "args", "expected"), EXAMPLES)
def test_each_function_gives_its_documented_result(
    name: str, args: tuple[Any, ...], expected: Any
) -> None:
    result = FUNCTIONS[name](*args)
    assert result == expected
    assert type(result) is type(expected)


def test_every_function_has_an_example() -> None:
    assert {name for name, _, _ in EXAMPLES} | {"today"} == set(FUNCTIONS)


def test_round_and_format_number_round_halves_away_from_zero_like_spreadsheets() -> None:
    assert [FUNCTIONS["round"](x) for x in (0.5, 1.5, 2.5, -0.5)] == [1, 2, 3, -1]
    assert format_number(0.125, 2) == "0.13"


def test_today_reads_the_injected_clock_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(functions, "_clock", lambda: 1738367999.0)  # 2025-01-31 23:59:59 UTC
    assert today() == "2025-01-31"
    monkeypatch.setattr(functions, "_clock", lambda: 1738368000.0)
    assert today() == "2025-02-01"


# --- blanks ---------------------------------------------------------------------------------

BLANKS = [None, "", "   "]


def _blank(result: Any) -> bool:
    return is_empty(result)


#: Each function called with a blank as its main input, and what it must give back.
BLANK_CALLS: dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], bool]]] = {
    "lower": (lambda b: lower(b), lambda r, b: r == (b or "")),
    "upper": (lambda b: upper(b), lambda r, b: r == (b or "")),
    "trim": (lambda b: trim(b), lambda r, b: r == ""),
    "split": (lambda b: split(b, ","), lambda r, b: r == ([] if not b else [b])),
    "join": (lambda b: join(b, ","), lambda r, b: r == ""),
    "replace": (lambda b: replace(b, "a", "b"), lambda r, b: r == (b or "")),
    "regex_match": (lambda b: regex_match(b, "x"), lambda r, b: r is False),
    "regex_extract": (lambda b: regex_extract(b, "(x)"), lambda r, b: r is None),
    "regex_replace": (lambda b: regex_replace(b, "x", "y"), lambda r, b: r == (b or "")),
    "left": (lambda b: left(b, 2), lambda r, b: r == (b or "")[:2]),
    "right": (lambda b: right(b, 2), lambda r, b: r == (b or "")[-2:]),
    "mid": (lambda b: mid(b, 1, 2), lambda r, b: r == (b or "")[:2]),
    "length": (lambda b: length(b), lambda r, b: r == len(b or "")),
    "slug": (lambda b: slug(b), lambda r, b: r == ""),
    "concat": (lambda b: concat(b, b), lambda r, b: r == (b or "") * 2),
    "domain": (lambda b: domain(b), lambda r, b: r is None),
    "strip_www": (lambda b: strip_www(b), lambda r, b: r is None),
    "url_host": (lambda b: url_host(b), lambda r, b: r is None),
    "url_path": (lambda b: url_path(b), lambda r, b: r is None),
    "url_query": (lambda b: url_query(b, "q"), lambda r, b: r is None),
    "is_email": (lambda b: is_email(b), lambda r, b: r is False),
    "round": (lambda b: FUNCTIONS["round"](b, 2), lambda r, b: r is None),
    "min": (lambda b: FUNCTIONS["min"](b), lambda r, b: r is None),
    "max": (lambda b: FUNCTIONS["max"](b, b), lambda r, b: r is None),
    "sum": (lambda b: FUNCTIONS["sum"](b), lambda r, b: r is None),
    "format_number": (lambda b: format_number(b, 2), lambda r, b: r is None),
    "to_number": (lambda b: to_number(b), lambda r, b: r is None),
    "today": (lambda b: today(), lambda r, b: len(r) == 10),
    "parse_date": (lambda b: parse_date(b, "%d.%m.%Y"), lambda r, b: r is None),
    "format_date": (lambda b: format_date(b, "%Y"), lambda r, b: r is None),
    "add_days": (lambda b: add_days(b, 1), lambda r, b: r is None),
    "diff_days": (lambda b: diff_days("2025-01-31", b), lambda r, b: r is None),
    "get": (lambda b: get(b, "a.b", "none"), lambda r, b: r == "none"),
    "first": (lambda b: first(b), lambda r, b: r is None),
    "last": (lambda b: last(b), lambda r, b: r is None),
    "map_field": (lambda b: map_field(b, "a"), lambda r, b: r == []),
    "filter_by": (lambda b: filter_by(b, "a", 1), lambda r, b: r == []),
    "unique": (lambda b: unique(b), lambda r, b: r == []),
    "compact": (lambda b: compact(b), lambda r, b: r == []),
    "to_json": (lambda b: to_json(b), lambda r, b: r == ("null" if b is None else f'"{b}"')),
    "parse_json": (lambda b: parse_json(b), lambda r, b: r is None),
    "coalesce": (lambda b: coalesce(b, b), lambda r, b: r is None),
    "is_empty": (lambda b: is_empty(b), lambda r, b: r is True),
    "if_else": (lambda b: if_else(b, "yes", "no"), lambda r, b: r == "no"),
}


def test_every_function_is_called_with_blanks() -> None:
    assert set(BLANK_CALLS) == set(FUNCTIONS)


@pytest.mark.parametrize("blank", BLANKS, ids=["none", "empty", "whitespace"])
@pytest.mark.parametrize("name", sorted(BLANK_CALLS))
def test_a_blank_input_never_raises(name: str, blank: Any) -> None:
    call, expected = BLANK_CALLS[name]
    result = call(blank)
    assert expected(result, blank), result


@pytest.mark.parametrize(
    "call",
    [
        lambda: left("abc", None),
        lambda: mid("abc", None, None),
        lambda: FUNCTIONS["round"](1.26, None),
        lambda: format_number(1234, None, None),
        lambda: add_days("2025-01-31", ""),
        lambda: split("a b", None),
        lambda: replace("abc", None, "x"),
        lambda: parse_date("2025-01-31", None),
        lambda: format_date("2025-01-31", None),
    ],
)
def test_a_blank_option_takes_its_default_without_raising(call: Callable[[], Any]) -> None:
    assert call() is not None


# --- wrong types ----------------------------------------------------------------------------

WRONG_TYPES: list[tuple[str, tuple[Any, ...], str]] = [
    ("round", ("abc",), "round() needs a number, got text 'abc'."),
    ("round", ("x" * 50,), "round() needs a number, got text of 50 characters."),
    ("round", (1.5, "two"), "round() needs a whole number of digits, got text 'two'."),
    ("round", (1.5, 500), "round() takes between -100 and 100 digits."),
    ("lower", ([1, 2],), "lower() needs text, got a list."),
    ("upper", ({"a": 1},), "upper() needs text, got an object."),
    ("trim", (RowView({}),), "trim() needs text, got an object."),
    ("split", ({"a": 1}, ","), "split() needs text, got an object."),
    ("join", ("a,b", ","), "join() needs a list, got text 'a,b'."),
    ("join", ([["x"]], ","), "join() joins text and numbers, got a list in the list."),
    ("replace", ("abc", ["a"], "b"), "replace() needs text, got a list."),
    ("regex_match", ("x", "("), "regex_match() got a pattern that is not a valid regular expression: missing ) at position 1."),  # noqa: E501
    ("regex_match", ("x", ["a"]), "regex_match() needs text, got a list."),
    ("regex_extract", ("a", "(a)", 2), "regex_extract() asks for group 2, which the pattern does not have."),  # noqa: E501
    ("regex_extract", ("a", "(a)", "name"), "regex_extract() asks for group 'name', which the pattern does not have."),  # noqa: E501
    ("regex_replace", ("a", "a", "\\2"), "regex_replace() has a replacement that does not fit: invalid group reference."),  # noqa: E501
    ("left", ("abc", "two"), "left() needs a number of characters, got text 'two'."),
    ("left", ("abc", -1), "left() needs a number of characters of at least 0, got -1."),
    ("right", ("abc", 1.5), "right() needs a number of characters, got the number 1.5."),
    ("mid", ("abc", 0, 1), "mid() needs a start position of at least 1, got 0."),
    ("length", (42,), "length() needs text, a list or an object, got the number 42."),
    ("slug", ({"a": 1},), "slug() needs text, got an object."),
    ("concat", ("a", ["b"]), "concat() needs text, got a list."),
    ("domain", ([1],), "domain() needs text, got a list."),
    ("url_query", ("https://x.com/?a=1", ["a"]), "url_query() needs text, got a list."),
    ("min", ("a", 1), "min() needs numbers, got text 'a'."),
    ("max", (True, 2), "max() needs numbers, got a boolean (true)."),
    ("sum", ([[1]],), "sum() needs numbers, got a list among them."),
    ("sum", ([1, float("inf")],), "sum() needs a finite number, got inf."),
    ("format_number", ("lots",), "format_number() needs a number, got text 'lots'."),
    ("format_number", (1, 30), "format_number() takes at most 20 decimals."),
    ("format_number", (1, 2, "    "), "format_number() takes a thousands separator of at most 3 characters."),  # noqa: E501
    ("to_number", ([1],), "to_number() needs text or a number, got a list."),
    ("parse_date", ("31.01.2025",), "parse_date() cannot read text '31.01.2025' as a date: write it as 2025-01-31, or give its format as in parse_date(value, '%d.%m.%Y')."),  # noqa: E501
    ("parse_date", ("2025-31-01", "%Y-%m-%d"), "parse_date() cannot read text '2025-31-01' with the format '%Y-%m-%d'."),  # noqa: E501
    ("parse_date", (10**20,), "parse_date() got a timestamp out of the range of dates (1e+17)."),
    ("format_date", ("2025-01-31", "%c"), "format_date() does not know the format code '%c'; use e.g. %Y-%m-%d."),  # noqa: E501
    ("format_date", ("2025-01-31", "%"), "format_date() does not know the format code '%'; use e.g. %Y-%m-%d."),  # noqa: E501
    ("format_date", (True, "%Y"), "format_date() needs a date, got a boolean (true)."),
    ("add_days", ("2025-01-31", "soon"), "add_days() needs a whole number of days, got text 'soon'."),  # noqa: E501
    ("add_days", ("9999-12-31", 1), "add_days() went past the range of dates."),
    ("diff_days", ([1], "2025-01-01"), "diff_days() needs a date, got a list."),
    ("get", (LOOKUP, 1.5), "get() needs a path such as 'data.items.0.name', got the number 1.5."),
    ("first", ("abc",), "first() needs a list, got text 'abc'."),
    ("last", ({"a": 1},), "last() needs a list, got an object."),
    ("map_field", ({"a": 1}, "a"), "map_field() needs a list, got an object."),
    ("filter_by", (5, "a", 1), "filter_by() needs a list, got the number 5."),
    ("unique", ("abc",), "unique() needs a list, got text 'abc'."),
    ("compact", (3,), "compact() needs a list, got the number 3."),
    ("to_json", (float("nan"),), "to_json() cannot write this value as JSON: Out of range float values are not JSON compliant: nan."),  # noqa: E501
    ("to_json", ({1, 2}.__iter__(),), "to_json() cannot write this value as JSON: a set_iterator value cannot be written as JSON."),  # noqa: E501
    ("parse_json", ("{'a': 1}",), "parse_json() cannot read the text as JSON: Expecting property name enclosed in double quotes at line 1 column 2."),  # noqa: E501
    ("parse_json", ("NaN",), "parse_json() cannot read the text as JSON: NaN is not allowed in JSON at line 1 column 1."),  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize(("name", "args", "message"), WRONG_TYPES)
def test_a_wrong_type_is_one_line_naming_the_function(
    name: str, args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(TemplateError) as refused:
        FUNCTIONS[name](*args)
    assert refused.value.message == message
    assert refused.value.code == "template"


def test_a_missing_column_reports_the_column_not_a_type() -> None:
    environment = BoundedSandboxEnvironment()
    environment.globals.update(FUNCTIONS)
    expression = environment.compile_expression("lower(row.nickname)", undefined_to_none=False)
    with pytest.raises(UndefinedError, match="no column 'nickname'"):
        expression(row=RowView({"name": "Ada"}, columns=["name"]))


# --- hostile inputs -------------------------------------------------------------------------


# Built once, before any measurement: only what a function allocates is measured.
@pytest.fixture(autouse=True)
def _default_limits():
    """The figures below are the sandbox's default limits; the app's settings may have set
    others when Django started (in the whole suite's run)."""
    before = sandbox.MAX_STRING_LENGTH
    sandbox.configure_limits(max_text_chars=1_000_000)
    yield
    sandbox.configure_limits(max_text_chars=before)


A_MILLION = "a" * 1_000_000
HALF_MILLION = "x" * 500_000
SHARP_S = "ß" * 900_000
PARENTHESISED_TEN = "\u247d" * 300_000  # "⑽" decomposes to "(10)"
COMMAS = "a," * 500_000
SPACED = "a " * 500_000
LONG_ITEMS = ["x" * 100_000] * 20
SNOWMEN = ["\u2603" * 100_000] * 11
CONTROLS = "\x01" * 200_000  # each written as \u0001 in JSON
MANY_OBJECTS = [{}] * 200_000
REPEATED = "a" * 2_000
LONG_REPLACEMENT = "b" * 1_000

HOSTILE: dict[str, Callable[[], Any]] = {
    "replace growth": lambda: replace(A_MILLION, "a", "aaaaaaaaaa"),
    "regex_replace growth": lambda: regex_replace(REPEATED, "a", LONG_REPLACEMENT),
    "regex_replace group growth": lambda: regex_replace(REPEATED, "(a)", LONG_REPLACEMENT + r"\1"),
    "upper of sharp s": lambda: upper(SHARP_S),
    "slug of wide compatibility characters": lambda: slug(PARENTHESISED_TEN),
    "split into too many items": lambda: split(COMMAS, ","),
    "split on whitespace into too many items": lambda: split(SPACED),
    "join too long": lambda: join(LONG_ITEMS, ","),
    "concat too long": lambda: concat(HALF_MILLION, HALF_MILLION, "x"),
    "to_json too long": lambda: to_json(SNOWMEN),
    "to_json escapes": lambda: to_json(CONTROLS),
    "map_field of too many items": lambda: map_field(MANY_OBJECTS, "a"),
}


@pytest.mark.parametrize("call", HOSTILE.values(), ids=HOSTILE.keys())
def test_growth_past_the_limit_is_refused_before_allocating(call: Callable[[], Any]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError, match=r"would make a (text longer|list of more) than"):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK_BYTES, f"{peak / 1e6:.1f} MB"


NEAR_THE_LIMIT: dict[str, Callable[[], Any]] = {
    "replace": lambda: replace(A_MILLION[:500_000], "a", "aa"),
    "concat": lambda: concat(HALF_MILLION, HALF_MILLION),
    "upper": lambda: upper(SHARP_S[:500_000]),
    "regex_replace": lambda: regex_replace(A_MILLION[:1_000], "a", LONG_REPLACEMENT),
    "to_json": lambda: to_json(A_MILLION[:999_998]),
}


@pytest.mark.parametrize("call", NEAR_THE_LIMIT.values(), ids=NEAR_THE_LIMIT.keys())
def test_a_result_exactly_at_the_limit_is_allowed(call: Callable[[], Any]) -> None:
    assert len(call()) == sandbox.MAX_STRING_LENGTH


def test_split_to_exactly_the_item_limit_is_allowed() -> None:
    assert len(split("a," * (sandbox.MAX_SEQUENCE_LENGTH - 1) + "a", ",")) == 100_000


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox configured for 1,000 characters and 100 items (read at each call)."""
    monkeypatch.setattr(sandbox, "MAX_STRING_LENGTH", 1_000)
    monkeypatch.setattr(sandbox, "MAX_SEQUENCE_LENGTH", 100)


SMALL_LIMIT_REFUSALS: dict[str, Callable[[], Any]] = {
    "format_number": lambda: format_number(2**4000, 0, "abc"),
    "format_date": lambda: format_date("2025-01-31", "%A" * 100),
    "split": lambda: split("a," * 100, ","),
    "join": lambda: join(["x" * 10] * 100, ","),
    "map_field": lambda: map_field([{}] * 101, "a"),
    "lower": lambda: lower("\u0130" * 600),  # "İ" lowers to two characters
    "regex_replace": lambda: regex_replace("a" * 600, "a", "bb"),
}


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize("call", SMALL_LIMIT_REFUSALS.values(), ids=SMALL_LIMIT_REFUSALS.keys())
def test_the_limit_is_the_sandbox_setting_read_at_each_call(call: Callable[[], Any]) -> None:
    with pytest.raises(
        TemplateError, match=r"would make a (text longer than 1,000|list of more than 100)"
    ):
        call()


# --- regular expressions --------------------------------------------------------------------

CATASTROPHIC = [
    (r"(a|a)*$", "a" * 40 + "b"),
    (r"(x+x+)+y", "x" * 5_000),
    (r"(a+)+$", "a" * 40 + "b"),
    (r"^(\w+\s?)*$", "an input of many words that ends badly " * 5 + "!"),
    (r"(.*a){20}", "a" * 30),
]


@pytest.mark.parametrize(("pattern", "text"), CATASTROPHIC)
@pytest.mark.parametrize("function", [regex_match, regex_extract, regex_replace])
def test_catastrophic_backtracking_stops_within_a_second(
    function: Callable[..., Any], pattern: str, text: str
) -> None:
    arguments = (text, pattern, "") if function is regex_replace else (text, pattern)
    started = time.perf_counter()
    try:
        function(*arguments)  # the regex package defuses some of these on its own
    except TemplateError as exc:
        assert exc.message.startswith(f"{function.__name__}() stopped after 0.25 s")
    assert time.perf_counter() - started < MAX_REGEX_SECONDS


def test_a_runaway_pattern_is_a_clear_error() -> None:
    with pytest.raises(TemplateError) as refused:
        regex_match("a" * 40 + "b", r"(a|a)*$")
    assert refused.value.message.startswith("regex_match() stopped after 0.25 s: the pattern is")


@pytest.mark.parametrize(
    "pattern",
    [r"(?:a{300}){300}", r"a{100000}", r"(a*){10000}", r"[\w\W]{5000}", r"((a{10}){10}){11}"],
)
def test_patterns_that_unroll_into_huge_programs_are_refused_before_compiling(pattern: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError, match=r"counted repeats \(\{n\}\) are too large"):
        regex_match("x", pattern)
    assert time.perf_counter() - started < MAX_REGEX_SECONDS


@pytest.mark.parametrize(
    "pattern",
    [r"\d{4}-\d{2}-\d{2}", r"(?:\d{1,3}\.){3}\d{1,3}", r"[a-z]{2,63}", r"\p{L}{3}", r"[]{}]{5}"],
)
def test_ordinary_counted_repeats_are_accepted(pattern: str) -> None:
    assert regex_match("nothing to see", pattern) in (True, False)


def test_a_pattern_longer_than_the_cap_is_refused() -> None:
    with pytest.raises(TemplateError, match="at most 1,000 characters"):
        regex_match("a", "a" * (MAX_PATTERN_LENGTH + 1))
    assert regex_match("a", "a?" * 500) is True


def test_a_pattern_is_compiled_once() -> None:
    pattern = r"compiled-once-(\d+)"
    regex_extract("compiled-once-1", pattern)
    hits = functions._compile.cache_info().hits
    regex_extract("compiled-once-2", pattern)
    assert functions._compile.cache_info().hits == hits + 1


# --- the library in the sandbox -------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluate() -> Callable[..., Any]:
    environment = BoundedSandboxEnvironment()
    environment.globals.update(FUNCTIONS)

    def run(source: str, **cells: Any) -> Any:
        expression = environment.compile_expression(source, undefined_to_none=False)
        return expression(row=RowView(cells, columns=[*cells, "blank"]))

    return run


FORMULAS: list[tuple[str, dict[str, Any], Any]] = [
    ("domain(row.email)", {"email": "Jane@WWW.Acme.com"}, "acme.com"),
    ("lower(trim(row.name))", {"name": f"  {UNICODE} "}, "ünïcode 名前"),
    (r'regex_extract(row.title, "(?i)vp of (\\w+)")', {"title": "VP of Sales"}, "Sales"),
    ("coalesce(row.work_email, row.email)", {"work_email": "", "email": "a@b.co"}, "a@b.co"),
    ('get(row.company_lookup, "data.employees.0.name")', {"company_lookup": LOOKUP}, "Ada"),
    ("round(row.revenue / 1000, 1)", {"revenue": 123456}, 123.5),
    ('"big" if to_number(row.size) > 100 else "small"', {"size": "1,200"}, "big"),
    ('row.first ~ " " ~ upper(row.last)', {"first": "Ada", "last": "Lovelace"}, "Ada LOVELACE"),
    ('parse_date(row.signup, format="%d.%m.%Y")', {"signup": "31.01.2025"}, "2025-01-31"),
    ('sum(map_field(row.people, "team.id"))', {"people": PEOPLE}, 4),
    ('join(map_field(filter_by(row.people, "team.id", 1), "name"), " & ")', {"people": PEOPLE},
     "Ada & Alan"),
    ("concat(lower(row.blank), domain(row.blank), length(row.blank))", {}, "0"),
    ("if_else(is_email(row.email), domain(row.email), 'no email')", {"email": "x"}, "no email"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "cells", "expected"), FORMULAS)
def test_formulas_run_in_the_bounded_sandbox(
    evaluate: Callable[..., Any], source: str, cells: dict[str, Any], expected: Any
) -> None:
    assert evaluate(source, **cells) == expected


DOCS = Path(__file__).resolve().parents[2] / "docs" / "formulas.md"
DOC_ROW = {
    "title": "VP Sales",
    "first": "Ada",
    "last": "Lovelace",
    "email": "ada@example.com",
    "work_email": None,
}
DOC_EXAMPLES = [
    (source, result)
    for source, result in re.findall(r"`([^`]+)` → `([^`]+)`", DOCS.read_text())
    if not source.startswith(("today(", "now("))
]


def test_the_reference_has_an_example_for_every_function() -> None:
    documented = {source.split("(")[0] for source, _ in DOC_EXAMPLES}
    assert documented | {"today"} == set(FUNCTIONS)


@pytest.mark.parametrize(("source", "result"), DOC_EXAMPLES)
def test_each_documented_example_gives_its_documented_result(
    evaluate: Callable[..., Any], source: str, result: str
) -> None:
    expected = evaluate(result)
    assert evaluate(source, **DOC_ROW) == expected
    assert type(evaluate(source, **DOC_ROW)) is type(expected)


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("lowr", "lower"), ("regex_extrct", "regex_extract"), ("Domian", "domain"),
     ("cocat", "concat"), ("formatnumber", "format_number"), ("xyzzy", None), ("", None)],
)  # fmt: skip
def test_suggest_names_the_closest_function(typo: str, expected: str | None) -> None:
    assert suggest(typo) == expected


def test_suggest_can_search_other_names_too() -> None:
    assert suggest("get_secrt", [*FUNCTIONS, "get_secret", "now"]) == "get_secret"


def test_every_name_is_short_snake_case() -> None:
    assert all(name.isidentifier() and name == name.lower() for name in FUNCTIONS)


def test_the_library_touches_no_files_network_or_environment() -> None:
    source = Path(functions.__file__).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    forbidden = {"os", "sys", "io", "socket", "subprocess", "shutil", "pathlib", "tempfile"}
    assert not imported & (forbidden | {"http", "httpx", "urllib.request", "requests"})
    assert "open(" not in source
