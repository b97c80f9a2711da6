"""The values and helper functions templates see: rows, text conversion, JSON and base64."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


class TemplateValueError(ValueError):
    """A helper was given a value it cannot handle."""


class RowView:
    """A row's cells by column key, read as ``row.key`` or ``row['key']`` in templates.

    Cells win over attributes (see ``BoundedSandboxEnvironment.getattr``), so a column keyed
    ``items`` or ``values`` reads the cell, never a dict method.

    ``columns`` names every column of the row's table: a column the row has no value for (a
    blank cell, stored as no key) reads as None, like a cell that holds null or empty text.
    Only a key that is no column at all is missing. Without ``columns`` (a row given as a
    plain document) the row's own keys are its columns.
    """

    __slots__ = ("_cells", "_columns")

    def __init__(self, cells: Mapping[str, Any], columns: Iterable[str] | None = None) -> None:
        self._cells = cells
        self._columns = frozenset(columns) if columns is not None else None

    def __getitem__(self, key: str) -> Any:
        if self._columns is None:
            return self._cells[key]
        if key not in self._columns and key not in self._cells:
            raise KeyError(key)
        value = self._cells.get(key)
        return None if value == "" else value

    def __contains__(self, key: object) -> bool:
        return key in self._cells or (self._columns is not None and key in self._columns)

    def __iter__(self) -> Iterator[str]:
        if self._columns is None:
            return iter(self._cells)
        return iter([*self._cells, *sorted(self._columns.difference(self._cells))])

    def __len__(self) -> int:
        if self._columns is None:
            return len(self._cells)
        return len(self._columns.union(self._cells))

    def to_dict(self) -> dict[str, Any]:
        """The cells as a plain dict (every column, blank ones as None)."""
        return {key: self[key] for key in self}


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for the values templates can produce besides JSON types."""
    if isinstance(value, RowView):
        return value.to_dict()
    if isinstance(value, range | tuple | set | frozenset):
        return list(value)
    raise TypeError(f"a {type(value).__name__} value cannot be written as JSON")


def to_text(value: Any) -> str:
    """How a value reads inside text: None is empty and booleans are JSON's true/false."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def tojson(value: Any, indent: int | None = None) -> str:
    """Serialise ``value`` as JSON (text for a body, a query value or a header)."""
    if indent is not None and not 0 <= indent <= 8:
        raise TemplateValueError("tojson indent must be between 0 and 8")
    try:
        text = json.dumps(
            value, ensure_ascii=False, indent=indent, allow_nan=False, default=json_default
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"tojson: {exc}") from None
    return text


def base64_encode(value: str | bytes, urlsafe: bool = False) -> str:
    """Base64-encode text (as UTF-8) or bytes; ``urlsafe`` uses ``-`` and ``_``."""
    data = value if isinstance(value, bytes) else to_text(value).encode()
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.decode("ascii")


def base64_decode(value: str, urlsafe: bool = False) -> str:
    """Decode base64 (standard or url-safe, padding optional) to UTF-8 text."""
    text = to_text(value).strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        data = (
            base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded, validate=True)
        )
        return data.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("base64_decode: the value is not base64-encoded UTF-8 text") from None
