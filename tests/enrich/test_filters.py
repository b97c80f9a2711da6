"""Filters and sorts: every operator on text, numbers and dates, groups joined by AND and OR,
blank cells, and enrichment columns by status and by a field of their answer."""

from __future__ import annotations

import pytest

from enrich.exceptions import TableError
from enrich.filters import filter_rows, parse_filter, parse_sorts, sort_rows
from enrich.grid import visible_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def companies(workspace, make_table):
    return make_table(
        workspace,
        columns=("Name", ("Employees", "number"), ("Since", "date"), "Country"),
        rows=[
            {"name": "Ada", "employees": 12, "since": "2020-01-31", "country": "UK"},
            {"name": "Grace", "employees": 3400, "since": "2019-06-01", "country": "US"},
            {"name": "Alan", "employees": 40, "country": "UK"},
            {"name": "名前", "since": "2021-12-24"},
        ],
    )


def names(table, data, sorts=()):
    columns = list(table.columns.all())
    rows = filter_rows(visible_rows(table=table), group=parse_filter(data), columns=columns)
    rows = sort_rows(rows, sorts=parse_sorts(list(sorts)), columns=columns)
    return [row.values.get("name") for row in rows]


def where(column, operator, value=None, **extra):
    return {"conditions": [{"column": column, "operator": operator, "value": value, **extra}]}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (("name", "contains", "a"), ["Ada", "Grace", "Alan"]),
        (("name", "not_contains", "a"), ["名前"]),
        (("name", "equals", "Ada"), ["Ada"]),
        (("name", "starts_with", "a"), ["Ada", "Alan"]),
        (("name", "is_one_of", ["Ada", "Alan"]), ["Ada", "Alan"]),
        (("country", "is_empty"), ["名前"]),
        (("country", "is_not_empty"), ["Ada", "Grace", "Alan"]),
        (("country", "not_equals", "UK"), ["Grace", "名前"]),
        (("employees", "greater_than", 20), ["Grace", "Alan"]),
        (("employees", "at_most", "40"), ["Ada", "Alan"]),
        (("employees", "between", [10, 100]), ["Ada", "Alan"]),
        (("employees", "equals", 3400), ["Grace"]),
        (("employees", "is_empty"), ["名前"]),
        (("since", "less_than", "2020-06-01"), ["Ada", "Grace"]),
        (("since", "between", ["2020-01-01", "2021-12-31"]), ["Ada", "名前"]),
    ],
)
def test_each_operator(companies, condition, expected) -> None:
    assert names(companies, where(*condition)) == expected


def test_groups_join_with_and_and_or(companies) -> None:
    uk_or_big = {
        "op": "or",
        "conditions": [
            {"column": "country", "operator": "equals", "value": "UK"},
            {"column": "employees", "operator": "greater_than", "value": 1000},
        ],
    }
    assert names(companies, uk_or_big) == ["Ada", "Grace", "Alan"]
    both = {
        "op": "and",
        "conditions": [uk_or_big, where("name", "starts_with", "A")["conditions"][0]],
    }
    assert names(companies, both) == ["Ada", "Alan"]


def test_several_sorts_with_blanks_last(companies) -> None:
    sorts = [{"column": "country"}, {"column": "employees", "descending": True}]
    assert names(companies, None, sorts) == ["Alan", "Ada", "Grace", "名前"]


def test_a_condition_on_a_deleted_column_is_dropped_and_bad_input_is_refused(companies) -> None:
    assert names(companies, where("gone", "equals", "x")) == ["Ada", "Grace", "Alan", "名前"]
    with pytest.raises(TableError, match="not valid"):
        parse_filter({"conditions": [{"column": "name", "operator": "sounds_like"}]})
    with pytest.raises(TableError, match="not a number"):
        names(companies, where("employees", "greater_than", "many"))
    with pytest.raises(TableError, match="at most 50"):
        parse_filter({"conditions": [{"column": "name", "operator": "is_empty"}] * 51})
