"""Each column kind reads text into a typed value and writes it back unchanged."""

from __future__ import annotations

import pytest

from enrich.exceptions import InvalidValue
from enrich.kinds import kind_for


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("text", "00123", "00123"),
        ("text", "NA", "NA"),
        ("text", "", None),
        ("text", " \t ", None),
        ("text", " padded ", " padded "),
        ("number", "00123", 123),
        ("number", "-5", -5),
        ("number", " 1.50 ", 1.5),
        ("number", "1e3", 1000),
        ("number", "12345678901234567890", 12345678901234567890),
        ("number", "", None),
        ("boolean", "Yes", True),
        ("boolean", "0", False),
        ("url", "https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("email", " ada@example.com ", "ada@example.com"),
        ("date", "2025-01-31", "2025-01-31"),
        ("date", "2025/01/31", "2025-01-31"),
        ("date", "2025-01-31T10:00:00Z", "2025-01-31"),
        ("json", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("json", "null", None),
    ],
)
def test_a_kind_parses_text_into_a_typed_value(kind: str, raw: str, value) -> None:
    parsed = kind_for(kind).parse(raw)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("number", "12,5", "is not a number"),
        ("number", "nan", "is not a number"),
        ("number", "1e999", "too large"),
        ("boolean", "maybe", "is not yes or no"),
        ("url", "javascript:alert(1)", "is not a web address"),
        ("url", "example", "is not a web address"),
        ("email", "ada@", "is not an email address"),
        ("date", "31/01/2025", "is not a date"),
        ("json", "{a: 1}", "Not valid JSON"),
    ],
)
def test_invalid_text_is_a_named_error_that_says_why(kind: str, raw: str, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        kind_for(kind).parse(raw)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("number", -5),
        ("number", 0.1),
        ("number", 1e-7),
        ("number", 2**70),
        ("boolean", False),
        ("date", "1999-12-31"),
        ("json", {"nested": ["a", 1, None, True]}),
        ("json", "a string"),
        ("text", "  spaces kept  "),
    ],
)
def test_writing_a_value_as_text_reads_back_the_same_value(kind: str, value) -> None:
    handler = kind_for(kind)
    assert handler.parse(handler.to_text(value)) == value
