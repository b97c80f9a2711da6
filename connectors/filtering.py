"""Shaping JSON: keeping the fields a column wants from an answer, dropping nulls from a body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_MISSING = object()


def drop_nulls(value: Any) -> Any:
    """Remove null values from objects and arrays, recursively (empty containers stay)."""
    if isinstance(value, dict):
        return {key: drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value if item is not None]
    return value


def _step(value: Any, segment: str) -> Any:
    if isinstance(value, dict):
        return value.get(segment, _MISSING)
    if isinstance(value, list):
        try:
            index = int(segment)
        except ValueError:
            return _MISSING
        if -len(value) <= index < len(value):
            return value[index]
    return _MISSING


def get_path(data: Any, path: Sequence[str]) -> Any:
    """Follow ``path`` (object keys and list indices) into ``data``; None where it leads nowhere."""
    value = data
    for segment in path:
        value = _step(value, segment)
        if value is _MISSING:
            return None
    return value


def filter_response(data: Any, field_paths: Sequence[Sequence[str]]) -> Any:
    """Keep what ``field_paths`` select from a parsed answer.

    No path gives the whole answer; one path gives its value; several give an object of
    ``"dotted.path" -> value``. A path that leads nowhere gives null, not an error.
    """
    if not field_paths:
        return data
    if len(field_paths) == 1:
        return get_path(data, field_paths[0])
    return {".".join(path): get_path(data, path) for path in field_paths}
