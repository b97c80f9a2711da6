"""The formula function library: ``lower(trim(row.name))``, ``domain(row.email)``, ``get(…)``.

Formulas, "only run if" conditions and request templates call these as globals of the bounded
sandbox (``sandbox.py``); ``FUNCTIONS`` maps each public name to its function and ``suggest``
finds the closest name for a typo. Every function follows the same rules, so a formula over a
whole column behaves predictably:

- a blank input (None, empty or whitespace-only text) never raises: text functions read it as
  ``""``, functions that compute a number, a date or look something up return None;
- a value of the wrong kind raises ``TemplateError`` with one line naming the function
  ("round() needs a number, got text 'abc'.");
- a function that can make a value larger than its input (``split``, ``join``, ``replace``,
  ``regex_replace``, ``concat``, ``upper``, ``slug``, ``map_field``, ``to_json``, ``format_*``)
  computes the size of its result and refuses it *before* allocating it when it would pass the
  sandbox's limit (``sandbox.MAX_STRING_LENGTH`` characters, ``sandbox.MAX_SEQUENCE_LENGTH``
  items; ``sandbox.configure_limits`` sets both and they are read at each call);
- regular expressions run in the ``regex`` package with a timeout, so catastrophic backtracking
  ends with a clear error instead of a stuck worker.

No function reads files, the network or the environment; ``today()`` reads the clock through
``_clock`` so tests can set it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

import regex
from jinja2 import Undefined

from connectors import sandbox
from connectors.errors import TemplateError
from connectors.template_values import RowView, json_default

__all__ = [
    "FUNCTIONS",
    "MAX_PATTERN_EXPANSION",
    "MAX_PATTERN_LENGTH",
    "REGEX_TIMEOUT_SECONDS",
    "suggest",
]

#: How long one regular-expression search or replacement may run.
REGEX_TIMEOUT_SECONDS = 0.25
#: The longest pattern accepted, in characters.
MAX_PATTERN_LENGTH = 1_000
#: The ``regex`` package unrolls counted repeats (``a{300}``) when it compiles, which no timeout
#: covers: ``(?:a{300}){300}`` takes seconds and tens of MB. Patterns whose unrolled size passes
#: this many atoms are refused (``\d{4}``, ``[a-z]{2,63}`` and the like are far below it).
MAX_PATTERN_EXPANSION = 1_000

#: The clock ``today()`` reads (seconds since the epoch); tests replace it.
_clock: Callable[[], float] = time.time

_CHUNK = 65_536  # characters measured at a time when a result's size must be known first
_MAX_CASE_GROWTH = 3  # str.upper/lower turn one character into at most three ("ΐ" → "Ϊ́")
_SHOWN_TEXT = 40  # longer text is described by its length, never cut (cut secrets evade masking)
_MAX_DATE_TEXT = 100
_MAX_DATE_FORMAT = 200
_LONGEST_DATE_DIRECTIVE = 32  # the longest text one strftime code writes (%A, %B, %Z…)
_DATE_DIRECTIVES = frozenset("aAbBdHIjmMpSyYzZfuwUWGVg%")
_DECIMALS = Context(prec=2_000, rounding=ROUND_HALF_UP)  # ints are bounded to 4,096 bits
_MAX_DIGITS = 100
_MAX_NUMBER_TEXT = 400
_MILLISECONDS_FROM = 1e11  # a timestamp this large is in milliseconds (year 5138 in seconds)


# --- shared readers -------------------------------------------------------------------------


def _fail(function: str, message: str) -> TemplateError:
    return TemplateError(f"{function}() {message}.")


def _shown(value: Any) -> str:
    """How an argument is named in an error message (whole or not at all: see _SHOWN_TEXT)."""
    _refuse_undefined(value)
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"the number {value}" if len(repr(value)) <= _SHOWN_TEXT else "a number"
    if isinstance(value, str):
        if len(value) <= _SHOWN_TEXT:
            return f"text {value!r}"
        return f"text of {len(value):,} characters"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping | RowView):
        return "an object"
    return f"a {type(value).__name__} value"


def _refuse_undefined(value: Any) -> None:
    # A column that does not exist reaches a function as Undefined: report that, not its type.
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()


def _is_blank(value: Any) -> bool:
    _refuse_undefined(value)
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def _text(function: str, value: Any) -> str:
    """Text from text, a number or a boolean; None reads as empty."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise _fail(function, f"needs text, got {_shown(value)}")


def _parse_number(text: str) -> int | float | None:
    text = text.strip()
    if len(text) > _MAX_NUMBER_TEXT:
        return None
    match = _NUMBER_TEXT.fullmatch(text)
    if match is None or not any(char.isdigit() for char in match["body"]):
        return None
    body = match["body"].replace(",", "")
    sign = -1 if match["sign"] == "-" else 1
    if _INTEGER_TEXT.fullmatch(body):
        return sign * int(body)
    number = sign * float(body)
    return number if math.isfinite(number) else None


_NUMBER_TEXT = re.compile(
    r"(?P<sign>[+-]?)[$€£¥]?\s*(?P<body>(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?(?:[eE][+-]?\d+)?)"
)
_INTEGER_TEXT = re.compile(r"\d+")


def _number(function: str, value: Any, what: str = "a number") -> int | float | None:
    """A number from a number or numeric text ("1,234.5", "$12"); None when blank."""
    if _is_blank(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(function, f"needs a finite number, got {value}")
        return value
    if isinstance(value, str):
        number = _parse_number(value)
        if number is not None:
            return number
    raise _fail(function, f"needs {what}, got {_shown(value)}")


def _whole(function: str, value: Any, what: str, *, blank: int, lowest: int | None = 0) -> int:
    """A whole number argument (a count, a position, digits); ``blank`` when it is blank."""
    number = _number(function, value, what)
    if number is None:
        return blank
    if isinstance(number, float):
        if not number.is_integer():
            raise _fail(function, f"needs {what}, got {_shown(value)}")
        number = int(number)
    if lowest is not None and number < lowest:
        raise _fail(function, f"needs {what} of at least {lowest}, got {number}")
    return number


def _items(function: str, value: Any) -> Sequence[Any] | None:
    """A list argument; None when blank."""
    if _is_blank(value):
        return None
    if isinstance(value, list | tuple):
        return value
    raise _fail(function, f"needs a list, got {_shown(value)}")


def _check_text_size(function: str, size: int) -> None:
    limit = sandbox.MAX_STRING_LENGTH
    if size > limit:
        raise _fail(function, f"would make a text longer than {limit:,} characters")


def _check_item_count(function: str, count: int) -> None:
    limit = sandbox.MAX_SEQUENCE_LENGTH
    if count > limit:
        raise _fail(function, f"would make a list of more than {limit:,} items")


# --- text -----------------------------------------------------------------------------------


def _changed_case(function: str, value: Any, convert: Callable[[str], str]) -> str:
    text = _text(function, value)
    if len(text) * _MAX_CASE_GROWTH > sandbox.MAX_STRING_LENGTH:
        # Measure piece by piece (case mapping is per character) before building the result.
        _check_text_size(function, sum(len(convert(piece)) for piece in _chunks(text)))
    return convert(text)


def _chunks(text: str) -> Iterator[str]:
    for start in range(0, len(text), _CHUNK):
        yield text[start : start + _CHUNK]


def lower(text: Any) -> str:
    """Text in lower case: ``lower("ACME Inc")`` → ``"acme inc"``."""
    return _changed_case("lower", text, str.lower)


def upper(text: Any) -> str:
    """Text in upper case: ``upper("acme")`` → ``"ACME"``."""
    return _changed_case("upper", text, str.upper)


def trim(text: Any) -> str:
    """Text without leading and trailing whitespace."""
    return _text("trim", text).strip()


def split(text: Any, sep: Any = None) -> list[str]:
    """Text cut at each ``sep`` (at runs of whitespace when it is blank)."""
    source = _text("split", text)
    if not source:
        return []
    separator = None if _is_blank(sep) else _text("split", sep)
    if separator is None:
        # At most one word per two characters; count them only when that bound is too many.
        too_many = (len(source) + 1) // 2 > sandbox.MAX_SEQUENCE_LENGTH
        pieces = _word_count(source) if too_many else 0
    else:
        pieces = source.count(separator) + 1
    _check_item_count("split", pieces)
    return source.split(separator)


def _word_count(text: str) -> int:
    """How many items ``text.split()`` makes, counted a chunk at a time."""
    count = 0
    previous_ends_in_word = False
    for chunk in _chunks(text):
        count += len(chunk.split())
        if previous_ends_in_word and not chunk[0].isspace():
            count -= 1  # one word spans the two chunks
        previous_ends_in_word = not chunk[-1].isspace()
    return count


def join(items: Any, sep: Any = ", ") -> str:
    """The items as one text, ``sep`` between them; blank items are left out."""
    values = _items("join", items)
    if values is None:
        return ""
    separator = _text("join", sep)
    texts = []
    for item in values:
        if isinstance(item, list | tuple | Mapping | RowView):
            raise _fail("join", f"joins text and numbers, got {_shown(item)} in the list")
        if not _is_blank(item):
            texts.append(_text("join", item))
    _check_text_size("join", sum(map(len, texts)) + len(separator) * max(len(texts) - 1, 0))
    return separator.join(texts)


def replace(text: Any, old: Any, new: Any) -> str:
    """Text with every ``old`` replaced by ``new`` (unchanged when ``old`` is empty)."""
    source, find, replacement = (_text("replace", part) for part in (text, old, new))
    if not find:
        return source
    _check_text_size("replace", len(source) + source.count(find) * (len(replacement) - len(find)))
    return source.replace(find, replacement)


def left(text: Any, n: Any) -> str:
    """The first ``n`` characters."""
    return _text("left", text)[: _whole("left", n, "a number of characters", blank=0)]


def right(text: Any, n: Any) -> str:
    """The last ``n`` characters."""
    source = _text("right", text)
    size = _whole("right", n, "a number of characters", blank=0)
    return source[len(source) - size :] if size < len(source) else source


def mid(text: Any, start: Any, n: Any) -> str:
    """``n`` characters from position ``start`` (the first character is 1)."""
    begin = _whole("mid", start, "a start position", blank=1, lowest=1) - 1
    size = _whole("mid", n, "a number of characters", blank=0)
    return _text("mid", text)[begin : begin + size]


def length(value: Any) -> int:
    """The number of characters of a text, items of a list or keys of an object."""
    if value is None:
        return 0
    if isinstance(value, str | list | tuple | Mapping | RowView):
        return len(value)
    raise _fail("length", f"needs text, a list or an object, got {_shown(value)}")


def slug(text: Any) -> str:
    """Lower-case ASCII words joined by ``-``: ``slug("Ünïcode Straße!")`` → ``unicode-strasse``."""
    source = _text("slug", text)
    pieces: list[str] = []
    size = 0
    for chunk in _chunks(source):
        # NFKD can make one character many (U+FDFA is 18); measure each piece as it is made.
        plain = unicodedata.normalize("NFKD", chunk.translate(_SLUG_LETTERS))
        piece = plain.encode("ascii", "ignore").decode("ascii")
        size += len(piece)
        _check_text_size("slug", size)
        pieces.append(piece)
    return _SLUG_GAPS.sub("-", "".join(pieces).lower()).strip("-")


_SLUG_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l",
     "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "\u0131": "i", "'": None, "\u2019": None}
)  # fmt: skip
_SLUG_GAPS = re.compile(r"[^a-z0-9]+")


def concat(*parts: Any) -> str:
    """The parts as one text (blank parts add nothing): ``concat(row.first, " ", row.last)``."""
    texts = [_text("concat", part) for part in parts]
    _check_text_size("concat", sum(map(len, texts)))
    return "".join(texts)


# --- regular expressions --------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _pattern(function: str, pattern: Any) -> regex.Pattern[str]:
    source = _text(function, pattern)
    if len(source) > MAX_PATTERN_LENGTH:
        raise _fail(function, f"takes a pattern of at most {MAX_PATTERN_LENGTH:,} characters")
    if _pattern_expansion(source) > MAX_PATTERN_EXPANSION:
        raise _fail(function, "refuses this pattern: its counted repeats ({n}) are too large")
    try:
        return _compile(source)
    except (regex.error, RecursionError, OverflowError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "it cannot be read"
        message = f"got a pattern that is not a valid regular expression: {detail}"
        raise _fail(function, message) from None


def _pattern_expansion(pattern: str) -> int:
    """An upper estimate of the atoms in ``pattern`` once counted repeats are unrolled."""
    totals = [0]  # one running total per open group
    last = 0  # the size of the atom or group a following quantifier applies to
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "(":
            totals.append(0)
            last = 0
            position += 1
            continue
        if char == ")" and len(totals) > 1:
            last = totals.pop()
            totals[-1] += last
            position += 1
            continue
        repeat = _COUNTED_REPEAT.match(pattern, position) if char == "{" else None
        if repeat is not None:
            times = max(int(repeat[1] or 0), 1)
            totals[-1] += last * (times - 1)
            last *= times
            position = repeat.end()
            if sum(totals) > MAX_PATTERN_EXPANSION:
                break
            continue
        if char == "\\":
            position = _escape_end(pattern, position)
        elif char == "[":
            position = _class_end(pattern, position)
        else:
            position += 1
        totals[-1] += 1
        last = 1
    return sum(totals)


_COUNTED_REPEAT = re.compile(r"\{(\d*)(?:,\d*)?\}")


def _escape_end(pattern: str, start: int) -> int:
    end = start + 2
    if pattern[start + 1 : start + 2] in ("p", "P", "N", "x") and pattern[end : end + 1] == "{":
        closing = pattern.find("}", end)
        return len(pattern) if closing < 0 else closing + 1  # \p{Letter}, \N{name}, \x{263a}
    return end


def _class_end(pattern: str, start: int) -> int:
    position = start + 1
    if pattern[position : position + 1] == "^":
        position += 1
    if pattern[position : position + 1] == "]":
        position += 1  # a "]" first in a set is a literal
    depth = 1
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            position += 2
            continue
        if char == "[":
            depth += 1  # [[:alpha:]] and nested sets
        elif char == "]":
            depth -= 1
            if depth == 0:
                return position + 1
        position += 1
    return len(pattern)


@contextmanager
def _regex_time(function: str) -> Iterator[None]:
    try:
        yield
    except TimeoutError:
        raise _fail(
            function,
            f"stopped after {REGEX_TIMEOUT_SECONDS:g} s: the pattern is too slow on this text "
            "(nested repeats such as (a+)+ backtrack a lot; very long texts take long too)",
        ) from None


def regex_match(text: Any, pattern: Any) -> bool:
    """Whether ``pattern`` occurs in the text."""
    compiled = _pattern("regex_match", pattern)
    source = _text("regex_match", text)
    with _regex_time("regex_match"):
        return compiled.search(source, timeout=REGEX_TIMEOUT_SECONDS) is not None


def regex_extract(text: Any, pattern: Any, group: Any = None) -> str | None:
    """The first match's ``group`` (by default group 1, or the whole match if the pattern has no
    group); None when nothing matches."""
    compiled = _pattern("regex_extract", pattern)
    with _regex_time("regex_extract"):
        found = compiled.search(_text("regex_extract", text), timeout=REGEX_TIMEOUT_SECONDS)
    if group is None:
        wanted: int | str = 1 if compiled.groups else 0
    elif isinstance(group, str) and not group.isdigit():
        wanted = group
    else:
        wanted = _whole("regex_extract", group, "a group number", blank=0)
    missing = (
        wanted > compiled.groups if isinstance(wanted, int) else wanted not in compiled.groupindex
    )
    if missing:
        raise _fail("regex_extract", f"asks for group {wanted!r}, which the pattern does not have")
    if found is None:
        return None
    value: str | None = found.group(wanted)
    return value


def regex_replace(text: Any, pattern: Any, repl: Any) -> str:
    """Text with every match of ``pattern`` replaced; ``\\1`` or ``\\g<name>`` insert groups."""
    compiled = _pattern("regex_replace", pattern)
    source = _text("regex_replace", text)
    template = _text("regex_replace", repl)
    try:
        with _regex_time("regex_replace"):
            if _replacement_bound(source, template) > sandbox.MAX_STRING_LENGTH:
                _check_text_size("regex_replace", _replaced_size(compiled, source, template))
            result: str = compiled.sub(template, source, timeout=REGEX_TIMEOUT_SECONDS)
    except (regex.error, IndexError) as exc:
        raise _fail("regex_replace", f"has a replacement that does not fit: {exc}") from None
    return result


def _replacement_bound(source: str, template: str) -> int:
    """The most characters replacing every match in ``source`` can make: at most two matches
    per position (an empty one beside a longer one), each written as the template with every
    backslash standing for a group as long as the whole text."""
    piece = len(template) + template.count("\\") * len(source)
    return len(source) + 2 * (len(source) + 1) * piece


def _replaced_size(compiled: regex.Pattern[str], source: str, template: str) -> int:
    """The exact size of the replaced text, counted match by match without building it; stops
    counting once past the limit."""
    written = 0  # characters of the result up to the current match's end
    previous_end = 0
    fixed = None if "\\" in template else len(template)
    for match in compiled.finditer(source, timeout=REGEX_TIMEOUT_SECONDS):
        piece = fixed if fixed is not None else len(match.expand(template))
        written += match.start() - previous_end + piece
        previous_end = match.end()
        if written > sandbox.MAX_STRING_LENGTH:
            return written
    return written + len(source) - previous_end


# --- email and URLs -------------------------------------------------------------------------

_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_HOST = re.compile(r"[^\s/?#@<>\"'\\,;()\[\]]+|\[[0-9a-fA-F:.]+\]")


def _url(function: str, value: Any) -> SplitResult | None:
    text = _text(function, value).strip()
    if not text:
        return None
    if text[:7].lower() == "mailto:":
        text = text[7:]
    if not _SCHEME.match(text):
        text = "//" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (reading it checks the port)
    except ValueError:
        return None
    return parts


def _host(parts: SplitResult | None) -> str | None:
    if parts is None or not parts.netloc:
        return None
    host = parts.netloc.rpartition("@")[2]
    # An IPv6 literal keeps its brackets; anything else loses its port.
    host = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
    host = host.rstrip(".").lower()
    return host if _HOST.fullmatch(host) else None


#: A plain email address, the common case ``domain`` answers without parsing a URL.
_PLAIN_EMAIL = re.compile(r"[^\s@/<>\"'\\,;:()\[\]]+@([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)")


def domain(value: Any) -> str | None:
    """The domain of an email address or a URL, lower case and without ``www.``."""
    text = _text("domain", value).strip()
    plain = _PLAIN_EMAIL.fullmatch(text)
    if plain is not None:
        host = plain.group(1).lower().rstrip(".")
        return strip_www(host) if "." in host else None
    head = text if _SCHEME.match(text) else text.split("/", 1)[0]
    if "@" in head and not _SCHEME.match(text):
        text = head.rpartition("@")[2].strip().strip("<>").strip()
    host = _host(_url("domain", text))
    # A domain has a dot (or is an IPv6 literal): "n/a" or "unknown" in a cell is no domain.
    if host is None or ("." not in host and not host.startswith("[")):
        return None
    return strip_www(host)


def strip_www(host: Any) -> str | None:
    """A host name without its leading ``www.``."""
    text = _text("strip_www", host).strip()
    if not text:
        return None
    return text[4:] if text[:4].lower() == "www." else text


def url_host(url: Any) -> str | None:
    """The host of a URL (scheme optional), lower case, without the port."""
    return _host(_url("url_host", url))


def url_path(url: Any) -> str | None:
    """The path of a URL (``/`` when it has none), as written (percent-encoding kept)."""
    parts = _url("url_path", url)
    if parts is None:
        return None
    return parts.path or "/"


def url_query(url: Any, name: Any) -> str | None:
    """The (decoded) value of the query parameter ``name``; None when it is absent."""
    parts = _url("url_query", url)
    key = _text("url_query", name)
    if parts is None or not key:
        return None
    values = parse_qs(parts.query, keep_blank_values=True).get(key)
    return values[0] if values else None


_EMAIL_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_EMAIL = re.compile(
    rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{{2,63}}"
)


def is_email(text: Any) -> bool:
    """Whether the text is one email address (``jane@acme.com``, ``jürgen@müller.de``)."""
    if not isinstance(text, str):
        _refuse_undefined(text)
        return False
    address = text.strip()
    return len(address) <= 254 and _EMAIL.fullmatch(address) is not None


# --- numbers --------------------------------------------------------------------------------


def _rounded(function: str, number: int | float, digits: int) -> Decimal:
    if not -_MAX_DIGITS <= digits <= _MAX_DIGITS:
        raise _fail(function, f"takes between -{_MAX_DIGITS} and {_MAX_DIGITS} digits")
    exact = Decimal(number) if isinstance(number, int) else Decimal(repr(number))
    try:
        result = exact.quantize(Decimal(1).scaleb(-digits), context=_DECIMALS)
    except InvalidOperation:
        raise _fail(function, "cannot round a number this large") from None
    return result.copy_abs() if result.is_zero() else result


def round_number(number: Any, digits: Any = 0) -> int | float | None:
    """``round(x, digits=0)``: halves round away from zero, as in spreadsheets."""
    value = _number("round", number)
    if value is None:
        return None
    places = _whole("round", digits, "a whole number of digits", blank=0, lowest=None)
    if isinstance(value, int) and places >= 0:
        return value
    result = _rounded("round", value, places)
    return int(result) if places <= 0 else float(result)


def _numbers(function: str, values: tuple[Any, ...]) -> list[int | float] | None:
    if len(values) == 1:
        if _is_blank(values[0]):
            return None
        if isinstance(values[0], list | tuple):
            values = tuple(values[0])
    numbers = []
    for value in values:
        if isinstance(value, list | tuple | Mapping | RowView):
            raise _fail(function, f"needs numbers, got {_shown(value)} among them")
        number = _number(function, value, "numbers")
        if number is not None:
            numbers.append(number)
    return numbers


def min_number(*values: Any) -> int | float | None:
    """``min(a, b, …)`` or ``min(list)``: the smallest number; blanks are left out."""
    numbers = _numbers("min", values)
    return min(numbers) if numbers else None


def max_number(*values: Any) -> int | float | None:
    """``max(a, b, …)`` or ``max(list)``: the largest number; blanks are left out."""
    numbers = _numbers("max", values)
    return max(numbers) if numbers else None


def sum_numbers(*values: Any) -> int | float | None:
    """``sum(list)`` or ``sum(a, b, …)``: the total, blanks left out (None for a blank cell)."""
    numbers = _numbers("sum", values)
    return None if numbers is None else sum(numbers)


def format_number(number: Any, decimals: Any = 0, thousands: Any = ",") -> str | None:
    """A number as text: ``format_number(1234.5, 2)`` → ``"1,234.50"``; with ``"."`` as the
    thousands separator the decimal mark is ``,`` (``"1.234,50"``)."""
    value = _number("format_number", number)
    if value is None:
        return None
    places = _whole("format_number", decimals, "a number of decimals", blank=0)
    if places > 20:
        raise _fail("format_number", "takes at most 20 decimals")
    separator = _text("format_number", thousands)
    if len(separator) > 3:
        raise _fail("format_number", "takes a thousands separator of at most 3 characters")
    digits = (
        int(abs(value).bit_length() * math.log10(2)) + 1
        if isinstance(value, int)
        else max(math.frexp(value)[1], 0) // 3 + 1
    )
    _check_text_size("format_number", digits * (1 + len(separator)) + places + 2)
    text = format(_rounded("format_number", value, places), f",.{places}f")
    mark = "," if separator == "." else "."
    return text.translate({ord(","): separator, ord("."): mark})


def to_number(value: Any) -> int | float | None:
    """A number from text (``"1,234.5"``, ``"$12"``, ``"1e3"``); None when it is not one."""
    _refuse_undefined(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value if not isinstance(value, float) or math.isfinite(value) else None
    if isinstance(value, str):
        return _parse_number(value)
    if value is None:
        return None
    raise _fail("to_number", f"needs text or a number, got {_shown(value)}")


# --- dates ----------------------------------------------------------------------------------

_UNIX_TEXT = re.compile(r"[+-]?\d+(?:\.\d+)?")
_EXTRA_DATE_FORMATS = ("%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S")


def _moment(function: str, value: Any, date_format: Any = None) -> dt.date | None:
    """A date or (UTC) datetime from ISO text, ``2025/01/31``, unix seconds or milliseconds,
    or text in ``date_format``; None when blank."""
    if _is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        return _utc(value)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_unix(function, value)
    if not isinstance(value, str):
        raise _fail(function, f"needs a date, got {_shown(value)}")
    text = value.strip()
    if len(text) > _MAX_DATE_TEXT:
        raise _fail(function, f"needs a date, got {_shown(value)}")
    if not _is_blank(date_format):
        return _parse_with_format(function, text, _text(function, date_format))
    if _UNIX_TEXT.fullmatch(text):
        return _from_unix(function, float(text))
    readers: list[Callable[[str], dt.date]] = [dt.date.fromisoformat, dt.datetime.fromisoformat]
    readers += [functools.partial(_strptime, date_format=form) for form in _EXTRA_DATE_FORMATS]
    for reader in readers:
        try:
            return _utc(reader(text))
        except ValueError:
            continue
    raise _fail(
        function,
        f"cannot read {_shown(value)} as a date: write it as 2025-01-31, or give its format "
        "as in parse_date(value, '%d.%m.%Y')",
    )


def _strptime(text: str, date_format: str) -> dt.datetime:
    return dt.datetime.strptime(text, date_format)


def _utc(moment: dt.date) -> dt.date:
    if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
        return moment.astimezone(dt.UTC)
    return moment


def _from_unix(function: str, seconds: float) -> dt.datetime:
    if abs(seconds) >= _MILLISECONDS_FROM:
        seconds /= 1000
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, ValueError, OSError):
        raise _fail(function, f"got a timestamp out of the range of dates ({seconds:g})") from None


def _parse_with_format(function: str, text: str, date_format: str) -> dt.date:
    _check_date_format(function, date_format)
    try:
        return _utc(_strptime(text, date_format))
    except ValueError:
        raise _fail(
            function, f"cannot read {_shown(text)} with the format {date_format!r}"
        ) from None


def _check_date_format(function: str, date_format: str) -> None:
    if len(date_format) > _MAX_DATE_FORMAT:
        raise _fail(function, f"takes a format of at most {_MAX_DATE_FORMAT} characters")
    position = date_format.find("%")
    while position >= 0:
        code = position + 1
        if date_format[code : code + 1] == "-":
            code += 1  # %-d: no zero padding
        if date_format[code : code + 1] not in _DATE_DIRECTIVES:
            shown = date_format[position : code + 1]
            raise _fail(function, f"does not know the format code {shown!r}; use e.g. %Y-%m-%d")
        position = date_format.find("%", code + 1)


def _day(moment: dt.date) -> dt.date:
    return moment.date() if isinstance(moment, dt.datetime) else moment


def _iso(moment: dt.date) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def today() -> str:
    """Today's date in UTC, as ``YYYY-MM-DD``."""
    return dt.datetime.fromtimestamp(_clock(), dt.UTC).date().isoformat()


def parse_date(text: Any, format: Any = None) -> str | None:
    """A date as ``YYYY-MM-DD`` from ISO text, ``2025/01/31``, unix seconds (or milliseconds),
    or text in ``format`` (``parse_date("31.01.2025", "%d.%m.%Y")``)."""
    moment = _moment("parse_date", text, format)
    return None if moment is None else _day(moment).isoformat()


def format_date(date: Any, format: Any = "%Y-%m-%d") -> str | None:
    """A date written with strftime codes: ``format_date("2025-01-31", "%b %-d, %Y")`` →
    ``"Jan 31, 2025"``."""
    moment = _moment("format_date", date)
    if moment is None:
        return None
    pattern = "%Y-%m-%d" if _is_blank(format) else _text("format_date", format)
    _check_date_format("format_date", pattern)
    _check_text_size("format_date", len(pattern) * _LONGEST_DATE_DIRECTIVE)
    try:
        return moment.strftime(pattern)
    except ValueError as exc:
        raise _fail("format_date", f"cannot write this date: {exc}") from None


def add_days(date: Any, n: Any) -> str | None:
    """The date (or datetime) ``n`` days later (earlier when negative), in the same ISO form."""
    moment = _moment("add_days", date)
    if moment is None:
        return None
    count = _whole("add_days", n, "a whole number of days", blank=0, lowest=None)
    try:
        return _iso(moment + dt.timedelta(days=count))
    except OverflowError:
        raise _fail("add_days", "went past the range of dates") from None


def diff_days(a: Any, b: Any) -> int | None:
    """Calendar days from ``b`` to ``a`` (``a - b``); None if either is blank."""
    later, earlier = _moment("diff_days", a), _moment("diff_days", b)
    if later is None or earlier is None:
        return None
    return (_day(later) - _day(earlier)).days


# --- lists and JSON -------------------------------------------------------------------------

_MISSING = object()
_PATH_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")


@functools.lru_cache(maxsize=1024)
def _path_parts(path: str) -> tuple[str, ...]:
    return tuple(part for part in _PATH_INDEX.sub(r".\1", path).split(".") if part)


def _path(function: str, path: Any) -> tuple[str, ...]:
    if _is_blank(path):
        return ()
    if isinstance(path, int) and not isinstance(path, bool):
        return (str(path),)
    if not isinstance(path, str):
        raise _fail(function, f"needs a path such as 'data.items.0.name', got {_shown(path)}")
    return _path_parts(path)


def _walk(value: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if isinstance(value, Mapping | RowView):
            try:
                value = value[part]
            except KeyError:
                return _MISSING
        elif isinstance(value, list | tuple) and _SIGNED_INTEGER.fullmatch(part):
            try:
                value = value[int(part)]
            except IndexError:
                return _MISSING
        else:
            return _MISSING
    return value


_SIGNED_INTEGER = re.compile(r"-?\d{1,18}")


def get(value: Any, path: Any, default: Any = None) -> Any:
    """The value at ``path`` (keys and list positions joined by dots: ``data.people.0.name``,
    ``[0]`` also works); ``default`` when the path leads nowhere or to null."""
    found = _walk(value, _path("get", path))
    return default if found is _MISSING or found is None else found


def first(items: Any) -> Any:
    """The first item of a list; None when it is empty."""
    values = _items("first", items)
    return values[0] if values else None


def last(items: Any) -> Any:
    """The last item of a list; None when it is empty."""
    values = _items("last", items)
    return values[-1] if values else None


def map_field(items: Any, path: Any) -> list[Any]:
    """The value at ``path`` of each item: ``map_field(row.people, "name")``."""
    values = _items("map_field", items)
    if values is None:
        return []
    _check_item_count("map_field", len(values))
    parts = _path("map_field", path)
    found = (_walk(item, parts) for item in values)
    return [None if value is _MISSING else value for value in found]


def _same(left: Any, right: Any) -> bool:
    if left == right and isinstance(left, bool) == isinstance(right, bool):
        return True
    # Cells read from CSV are text; compare them with JSON numbers by value.
    if isinstance(left, str) and isinstance(right, int | float) and not isinstance(right, bool):
        return _parse_number(left) == right
    if isinstance(right, str) and isinstance(left, int | float) and not isinstance(left, bool):
        return _parse_number(right) == left
    return False


def filter_by(items: Any, path: Any, value: Any) -> list[Any]:
    """The items whose value at ``path`` equals ``value`` (``"42"`` equals ``42``)."""
    values = _items("filter_by", items)
    if values is None:
        return []
    parts = _path("filter_by", path)
    return [item for item in values if _same(_walk(item, parts), value)]


def unique(items: Any) -> list[Any]:
    """The list without repeated items, in first-seen order."""
    values = _items("unique", items)
    if values is None:
        return []
    seen: set[Any] = set()
    seen_objects: set[int] = set()
    kept = []
    for item in values:
        if id(item) in seen_objects:
            continue
        try:
            key: Any = (type(item) is bool, item)
            hash(key)
        except TypeError:
            seen_objects.add(id(item))
            key = json.dumps(item, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def compact(items: Any) -> list[Any]:
    """The list without blank items (None, empty text, empty lists and objects)."""
    values = _items("compact", items)
    return [] if values is None else [item for item in values if not is_empty(item)]


def to_json(value: Any) -> str:
    """The value as compact JSON text."""
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=json_default)
    limit = sandbox.MAX_STRING_LENGTH
    try:
        # Count first, keeping nothing, so a value too large as JSON is never written whole.
        size = 0
        for piece in encoder.iterencode(value):
            size += len(piece)
            if size > limit:
                _check_text_size("to_json", size)
        return encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise _fail("to_json", f"cannot write this value as JSON: {exc}") from None
    except RecursionError:
        raise _fail("to_json", "got a value nested too deeply") from None


def parse_json(text: Any) -> Any:
    """The value written as JSON in the text (a list or object stays as it is)."""
    _refuse_undefined(text)
    if not isinstance(text, str):
        return text
    if _is_blank(text):
        return None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _fail("parse_json", f"cannot read the text as JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise _fail("parse_json", "got JSON nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not allowed in JSON", name, 0)


# --- logic ----------------------------------------------------------------------------------


def is_empty(value: Any) -> bool:
    """Whether the value is None, blank text, an empty list or an empty object."""
    if _is_blank(value):
        return True
    return isinstance(value, list | tuple | Mapping | RowView) and len(value) == 0


def coalesce(*values: Any) -> Any:
    """The first value that is not empty; None when all are."""
    return next((value for value in values if not is_empty(value)), None)


def if_else(condition: Any, when_true: Any, when_false: Any = None) -> Any:
    """``when_true`` if the condition holds, else ``when_false``. Empty values, 0 and the text
    ``"false"`` or ``"0"`` do not hold."""
    if isinstance(condition, str):
        holds = not _is_blank(condition) and condition.strip().lower() not in ("false", "0")
    else:
        holds = not is_empty(condition) and bool(condition)
    return when_true if holds else when_false


# --- the public table -----------------------------------------------------------------------

FUNCTIONS: dict[str, Callable[..., Any]] = {
    # text
    "lower": lower,
    "upper": upper,
    "trim": trim,
    "split": split,
    "join": join,
    "replace": replace,
    "regex_match": regex_match,
    "regex_extract": regex_extract,
    "regex_replace": regex_replace,
    "left": left,
    "right": right,
    "mid": mid,
    "length": length,
    "slug": slug,
    "concat": concat,
    # email and URLs
    "domain": domain,
    "strip_www": strip_www,
    "url_host": url_host,
    "url_path": url_path,
    "url_query": url_query,
    "is_email": is_email,
    # numbers
    "round": round_number,
    "min": min_number,
    "max": max_number,
    "sum": sum_numbers,
    "format_number": format_number,
    "to_number": to_number,
    # dates
    "today": today,
    "parse_date": parse_date,
    "format_date": format_date,
    "add_days": add_days,
    "diff_days": diff_days,
    # lists and JSON
    "get": get,
    "first": first,
    "last": last,
    "map_field": map_field,
    "filter_by": filter_by,
    "unique": unique,
    "compact": compact,
    "to_json": to_json,
    "parse_json": parse_json,
    # logic
    "coalesce": coalesce,
    "is_empty": is_empty,
    "if_else": if_else,
}


def suggest(name: str, candidates: Iterable[str] | None = None) -> str | None:
    """The known function name closest to ``name`` (for "did you mean lower?"), if any is close.

    ``candidates`` replaces the names of ``FUNCTIONS`` (e.g. to add the template's own globals).
    """
    if not isinstance(name, str) or not name:
        return None
    names = list(FUNCTIONS if candidates is None else candidates)
    matches = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
    return matches[0] if matches else None
