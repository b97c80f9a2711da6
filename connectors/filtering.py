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


def read_path(data: Any, path: Sequence[str]) -> Any:
    """``get_path`` that also reads values kept in the older flat shape, where several field
    paths were stored as ``{"query.email": …}`` instead of ``{"query": {"email": …}}``."""
    value = data
    for index, segment in enumerate(path):
        step = _step(value, segment)
        if step is _MISSING and isinstance(value, dict):
            for end in range(len(path), index + 1, -1):
                dotted = ".".join(path[index:end])
                if dotted in value:
                    return read_path(value[dotted], path[end:])
        if step is _MISSING:
            return None
        value = step
    return value


def filter_response(data: Any, field_paths: Sequence[Sequence[str]]) -> Any:
    """Keep what ``field_paths`` select from a parsed answer.

    No path gives the whole answer; one path gives its value; several give the answer cut down
    to those paths, keeping its shape: ``query.email, headers`` keeps
    ``{"query": {"email": …}, "headers": {…}}``, and ``items.0.id`` a list whose first item
    is ``{"id": …}``. So every kept path reads the same in the kept value as in the answer.
    A path that leads nowhere reads as null, not an error.
    """
    if not field_paths:
        return data
    if len(field_paths) == 1:
        return get_path(data, field_paths[0])
    return _keep(data, [tuple(path) for path in field_paths])


def _keep(value: Any, paths: list[tuple[str, ...]]) -> Any:
    """``value`` cut down to ``paths`` (relative to it); an empty path keeps all of it."""
    if any(not path for path in paths):
        return value
    branches: dict[str, list[tuple[str, ...]]] = {}
    for path in paths:
        branches.setdefault(path[0], []).append(path[1:])
    if isinstance(value, dict):
        return {
            key: None if key not in value else _keep(value[key], rest)
            for key, rest in branches.items()
        }
    if isinstance(value, list):
        return _kept_list(value, branches)
    return None


def _list_index(items: list[Any], segment: str) -> int | None:
    try:
        index = int(segment)
    except ValueError:
        return None
    if -len(items) <= index < len(items):
        return index % len(items)
    return None


def _kept_list(items: list[Any], branches: dict[str, list[tuple[str, ...]]]) -> list[Any]:
    """The kept items at their own positions (gaps are null), so ``items.2.id`` still reads
    item 2. Indices that name no item keep nothing."""
    by_index: dict[int, list[tuple[str, ...]]] = {}
    for segment, rest in branches.items():
        index = _list_index(items, segment)
        if index is not None:
            by_index.setdefault(index, []).extend(rest)
    if not by_index:
        return []
    kept: list[Any] = [None] * (max(by_index) + 1)
    for index, rest in by_index.items():
        kept[index] = _keep(items[index], rest)
    return kept
