"""Filters and sorts of the grid and its saved views: what a user can ask, checked once, and
turned into one query.

A filter is a group of conditions joined by AND or OR; a group may hold groups. A condition
names a column (by key), an operator and a value. Typed columns compare their stored values
(text as text, numbers as numbers, dates as ISO dates); computed columns (enrichments, their
fields) are filtered by the app that computes them: a cell's status, or a field of its answer
(a dot path). Blank cells are no key in a row, so "is empty" is "has no such key".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union

from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.db.models.fields.json import HasKey, KeyTextTransform, KeyTransform
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    In,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from enrich.computed import provider as computed_columns
from enrich.exceptions import TableError
from enrich.kinds import COMPUTED_KINDS
from enrich.models import Column, ColumnKind, Row

TEXT_OPERATORS = (
    "contains", "not_contains", "equals", "not_equals", "starts_with", "is_one_of",
    "is_empty", "is_not_empty",
)  # fmt: skip
NUMBER_OPERATORS = (
    "equals", "not_equals", "less_than", "greater_than", "at_most", "at_least", "between",
    "is_one_of", "is_empty", "is_not_empty",
)  # fmt: skip
#: Computed columns: the cell's status, or a condition on a field of the answer (``path``).
STATUS_OPERATOR = "status_is"
STATUSES = ("done", "error", "skipped", "not_run", "queued", "running", "cancelled")
OPERATOR_LABELS = {
    "contains": "contains",
    "not_contains": "does not contain",
    "equals": "is",
    "not_equals": "is not",
    "starts_with": "starts with",
    "is_one_of": "is one of",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "less_than": "<",
    "greater_than": ">",
    "at_most": "≤",
    "at_least": "≥",
    "between": "is between",
    STATUS_OPERATOR: "status is",
}
#: Conditions in one filter, groups included: a filter is read by people.
MAX_CONDITIONS = 50


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str = Field(max_length=64)
    operator: Literal[
        "contains", "not_contains", "equals", "not_equals", "starts_with", "is_one_of",
        "is_empty", "is_not_empty", "less_than", "greater_than", "at_most", "at_least",
        "between", "status_is",
    ]  # fmt: skip
    value: Any = None
    #: For a computed column: a dot path into its answer (``data.company.name``).
    path: str = Field(default="", max_length=500)

    @field_validator("path")
    @classmethod
    def _plain_path(cls, path: str) -> str:
        if "__" in path or any(part.isspace() for part in path):
            raise ValueError("a field path is dot-separated names, e.g. data.company.name")
        return path


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["and", "or"] = "and"
    conditions: list[Annotated[Union[Condition, Group], Field(union_mode="left_to_right")]] = (  # noqa: UP007
        Field(default_factory=list, max_length=MAX_CONDITIONS)
    )


class Sort(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str = Field(max_length=64)
    descending: bool = False


def parse_filter(data: Any) -> Group:
    """A filter as the grid or a view sends it (JSON), checked; ``TableError`` says why not."""
    if not data:
        return Group()
    try:
        group = Group.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        raise TableError(f"The filter is not valid: {first['msg']}.") from None
    if _count(group) > MAX_CONDITIONS:
        raise TableError(f"A filter has at most {MAX_CONDITIONS} conditions.")
    return group


def parse_sorts(data: Any) -> list[Sort]:
    if not data:
        return []
    try:
        return [Sort.model_validate(item) for item in data][:10]
    except (ValidationError, TypeError) as exc:
        raise TableError(f"The sort is not valid: {exc}.") from None


def _count(group: Group) -> int:
    return sum(_count(c) if isinstance(c, Group) else 1 for c in group.conditions)


def operators_for(column: Column) -> tuple[str, ...]:
    """The operators the filter builder offers for ``column``."""
    if column.kind in COMPUTED_KINDS and column.kind != ColumnKind.FORMULA:
        return (STATUS_OPERATOR, *TEXT_OPERATORS)
    if column.kind in {ColumnKind.NUMBER, ColumnKind.DATE}:
        return NUMBER_OPERATORS
    return TEXT_OPERATORS


def filter_rows(rows: QuerySet[Row], *, group: Group, columns: Sequence[Column]) -> QuerySet[Row]:
    """``rows`` with the filter applied (conditions on columns that are gone are dropped)."""
    if not group.conditions:
        return rows
    by_key = {column.key: column for column in columns}
    q = _group_q(group, by_key)
    return rows.filter(q) if q is not None else rows


def _group_q(group: Group, columns: Mapping[str, Column]) -> Q | None:
    parts = [
        _group_q(item, columns) if isinstance(item, Group) else _condition_q(item, columns)
        for item in group.conditions
    ]
    found = [part for part in parts if part is not None]
    if not found:
        return None
    combined = found[0]
    for part in found[1:]:
        combined = (combined | part) if group.op == "or" else (combined & part)
    return combined


def _condition_q(condition: Condition, columns: Mapping[str, Column]) -> Q | None:
    column = columns.get(condition.column)
    if column is None:
        return None
    if column.kind in COMPUTED_KINDS and column.kind != ColumnKind.FORMULA:
        return computed_columns().condition_q(column=column, condition=condition)
    return value_q("values", [column.key], condition, numeric=column.kind == ColumnKind.NUMBER)


def value_q(field: str, path: Sequence[str], condition: Condition, *, numeric: bool) -> Q:
    """``condition`` on the value at ``path`` in the JSON ``field`` (a row's cells under a
    column's key, or a field of an answer): text compared as text ignoring case, numbers as
    numbers, dates as ISO text; blank is no key."""
    op, value = condition.operator, condition.value
    if op == STATUS_OPERATOR:
        raise TableError("“status is” is for enrichment columns.")
    parent: Any = F(field)
    for segment in path[:-1]:
        parent = KeyTransform(segment, parent)
    present = Q(HasKey(parent, path[-1]))
    if op == "is_empty":
        return ~present
    if op == "is_not_empty":
        return present
    text = KeyTextTransform(path[-1], parent)
    if op in {"contains", "not_contains"}:
        match = Q(IContains(text, _text(value)))
        return match if op == "contains" else ~match | ~present
    if op == "starts_with":
        return Q(IStartsWith(text, _text(value)))
    if op == "is_one_of":
        return Q(In(text, [_text(item) for item in _listed(value)][:100]))
    # A number is compared as a JSON number through the ORM's own key lookups; keys are
    # slugs and paths have no "__" (refused when parsed), so the lookup names cannot clash.
    target: Any = "__".join([field, *path]) if numeric else text
    cast = _number if numeric else _text
    if op == "between":
        low, high = _pair(value)
        return _compared(target, "gte", cast(low)) & _compared(target, "lte", cast(high))
    if op == "not_equals":
        return ~_compared(target, "exact", cast(value)) | ~present
    names = {
        "equals": "exact",
        "less_than": "lt",
        "greater_than": "gt",
        "at_most": "lte",
        "at_least": "gte",
    }
    return _compared(target, names[op], cast(value))


_TEXT_LOOKUPS = {
    "exact": Exact,
    "lt": LessThan,
    "gt": GreaterThan,
    "lte": LessThanOrEqual,
    "gte": GreaterThanOrEqual,
}


def _compared(target: Any, lookup: str, value: Any) -> Q:
    if isinstance(target, str):  # a JSON key path: numbers compare as numbers
        return Q(**{f"{target}__{lookup}": value})
    # Extracted text compared as text (a JSON key lookup would read the value as JSON).
    return Q(_TEXT_LOOKUPS[lookup](target, value))


def sort_rows(
    rows: QuerySet[Row], *, sorts: Iterable[Sort], columns: Sequence[Column]
) -> QuerySet[Row]:
    """``rows`` ordered by each sort in turn (blanks last), then by the table's own order."""
    keys = {column.key for column in columns}
    order: list[OrderBy] = []
    for sort in sorts:
        if sort.column not in keys:
            continue
        value = KeyTransform(sort.column, "values")
        order.append(value.desc(nulls_last=True) if sort.descending else value.asc(nulls_last=True))
    return rows.order_by(*order, "position", "pk")


def _text(value: Any) -> str:
    return "" if value is None else str(value)[:1000]


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise TableError("Compare a number column with a number.")
    if isinstance(value, int | float):
        return value
    try:
        number = float(str(value).replace(",", "").strip())
    except ValueError:
        raise TableError(f"“{_text(value)[:40]}” is not a number to compare with.") from None
    return int(number) if number.is_integer() else number


def _listed(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [part.strip() for part in _text(value).split(",") if part.strip()]


def _pair(value: Any) -> tuple[Any, Any]:
    items = _listed(value)
    if len(items) != 2:
        raise TableError("“is between” takes two values, the lower first.")
    return items[0], items[1]
