"""Object ids as they arrive from outside: in a URL, a form field, a query string, a CLI flag.

A primary key is a 64-bit signed integer in both databases. A larger number is no id of
anything, yet handed to a query it is not simply "not found": SQLite raises ``OverflowError``
and PostgreSQL a data error, both a server error. So every id from outside is read here, once,
and a number that cannot be a key is refused before it reaches a query: no URL matches (404),
a form field is invalid (400).

The URL converter is registered under the name ``id`` (``AccountsConfig.ready``): every URL
conf writes ``<id:table_id>``, never ``<int:…>`` (a test walks every pattern with a huge id).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms

#: The largest primary key either database can hold (``bigint``).
MAX_ID = 2**63 - 1
#: Digits of ``MAX_ID``; a longer run of digits is refused before it is even converted.
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(value: object) -> int | None:
    """``value`` as an object id (ASCII digits, 1 to ``MAX_ID``), or None if it can be none.

    ``str.isdigit`` alone is not enough: it accepts ``"²"``, which ``int()`` refuses.
    """
    text = str(value).strip() if isinstance(value, str | int) else ""
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdecimal()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def parse_ids(values: Iterable[object]) -> list[int]:
    """The values of ``values`` that are object ids, in order; the others are left out."""
    return [number for value in values if (number := parse_id(value)) is not None]


class ObjectIdConverter:
    """``<id:name>`` in a URL: an object id, so a number beyond ``MAX_ID`` matches no URL."""

    regex = f"[0-9]{{1,{_MAX_DIGITS}}}"

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValueError(f"not an object id: {value}")  # Django reads this as "no match"
        return number

    def to_url(self, value: int) -> str:
        return str(value)


class ObjectChoiceField(forms.ModelChoiceField):
    """A ``ModelChoiceField`` whose posted id is read here first: Django's own looks a huge
    number up in the database and lets the overflow through as a server error."""

    def to_python(self, value: Any) -> Any:
        assert self.queryset is not None  # set by every use: the field looks choices up in it
        posted = value not in self.empty_values and not isinstance(value, self.queryset.model)
        if posted and parse_id(value) is None:
            message = self.error_messages["invalid_choice"]
            raise forms.ValidationError(message, code="invalid_choice")
        return super().to_python(value)
