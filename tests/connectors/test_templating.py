"""Rendering templates: context, native values in bodies, JSON that survives any cell value."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from connectors import (
    RequestConfig,
    TemplateContext,
    TemplateError,
    evaluate_expression,
    render_json,
    render_request,
    render_template,
    render_value,
    template_column_keys,
    template_secret_names,
)
from connectors.templating import compile_template

FIXED_NOW = 1_700_000_000.9


def context(**row: Any) -> TemplateContext:
    return TemplateContext(
        row=row,
        secrets={"api_key": "k-123", "user": "ada"},
        account={"name": "Acme"},
        workspace={"name": "Research"},
        clock=lambda: FIXED_NOW,
    )


def test_text_reads_cells_by_attribute_and_by_key() -> None:
    ctx = context(name="Ada", **{"full name": "Ada Lovelace"})
    assert render_template("{{ row.name }} / {{ row['full name'] }}", ctx) == "Ada / Ada Lovelace"


def test_a_column_named_like_a_dict_method_reads_the_cell() -> None:
    assert render_template("{{ row.items }}-{{ row.values }}", context(items=3, values=4)) == "3-4"


def test_none_renders_empty_and_booleans_like_json_in_text() -> None:
    ctx = context(empty=None, yes=True, no=False, n=1.5)
    assert render_template("[{{ row.empty }}|{{ row.yes }}|{{ row.no }}|{{ row.n }}]", ctx) == (
        "[|true|false|1.5]"
    )


def test_a_missing_column_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match="the row has no column 'email'"):
        render_template("{{ row.email }}", context(name="Ada"))


def test_get_secret_returns_the_value_and_remembers_it_for_masking() -> None:
    ctx = context()
    assert render_template("Bearer {{ get_secret('api_key') }}", ctx) == "Bearer k-123"
    assert ctx.secret_values() == {"k-123"}


def test_an_unknown_secret_is_an_error_naming_it_without_any_value() -> None:
    with pytest.raises(TemplateError, match="The secret 'nope' does not exist"):
        render_template("{{ get_secret('nope') }}", context())


def test_secrets_can_come_from_a_lookup_function() -> None:
    asked: list[str] = []

    def lookup(name: str) -> str | None:
        asked.append(name)
        return "v" if name == "known" else None

    ctx = TemplateContext(secrets=lookup)
    assert render_template("{{ get_secret('known') }}", ctx) == "v"
    assert asked == ["known"]


def test_now_is_whole_unix_seconds_with_an_offset() -> None:
    assert render_value("{{ now() }}", context()) == 1_700_000_000
    assert render_value("{{ now(3600) }}", context()) == 1_700_003_600
    with pytest.raises(TemplateError, match="whole number of seconds"):
        render_value("{{ now('soon') }}", context())


def test_account_and_workspace_basics_are_readable() -> None:
    assert render_template("{{ account.name }}@{{ workspace.name }}", context()) == "Acme@Research"


def test_tojson_and_base64_helpers() -> None:
    ctx = context(tags=["a", 'b"c'])
    assert render_template("{{ row.tags | tojson }}", ctx) == '["a", "b\\"c"]'
    assert render_template("{{ tojson(row.tags) }}", ctx) == '["a", "b\\"c"]'
    assert render_template("{{ 'ada:pw' | base64_encode }}", ctx) == "YWRhOnB3"
    assert render_template("{{ base64_encode('ada:pw') }}", ctx) == "YWRhOnB3"
    assert render_template("{{ 'YWRhOnB3' | base64_decode }}", ctx) == "ada:pw"
    assert render_template("{{ base64_decode('YWRhOnB3') }}", ctx) == "ada:pw"
    with pytest.raises(TemplateError, match="not base64"):
        render_template("{{ '***' | base64_decode }}", ctx)


def test_a_single_expression_keeps_its_type() -> None:
    ctx = context(age=42, score=1.5, active=True, tags=["x"], meta={"a": None}, empty=None)
    assert render_value("{{ row.age }}", ctx) == 42
    assert render_value("{{ row.score * 2 }}", ctx) == 3.0
    assert render_value("{{ row.active }}", ctx) is True
    assert render_value("{{ row.tags }}", ctx) == ["x"]
    assert render_value("{{ row.meta }}", ctx) == {"a": None}
    assert render_value("{{ row.empty }}", ctx) is None
    # Anything around the expression makes it text.
    assert render_value("{{ row.age }} ", ctx) == "42 "
    assert render_value("age {{ row.age }}", ctx) == "age 42"


def test_render_json_renders_keys_and_leaves_and_keeps_structure() -> None:
    body = {
        "id": "{{ row.id }}",
        "label": "Person {{ row.id }}",
        "{{ row.key }}": [1, "{{ row.flag }}", None, {"deep": "{{ row.name | upper }}"}],
        "fixed": 2.5,
    }
    rendered = render_json(body, context(id=7, key="dyn", flag=False, name="ada"))
    assert rendered == {
        "id": 7,
        "label": "Person 7",
        "dyn": [1, False, None, {"deep": "ADA"}],
        "fixed": 2.5,
    }


def test_remove_nulls_drops_nulls_and_missing_columns_recursively() -> None:
    body = {"a": "{{ row.a }}", "b": "{{ row.missing }}", "c": [None, "{{ row.a }}"], "d": {}}
    rendered = render_json(body, context(a=None), remove_nulls=True)
    assert rendered == {"c": [], "d": {}}


def test_without_remove_nulls_a_missing_column_in_the_body_is_an_error() -> None:
    with pytest.raises(TemplateError, match="no column 'missing'"):
        render_json({"b": "{{ row.missing }}"}, context())


def test_a_value_json_cannot_carry_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match=r"body\.x cannot be sent as JSON"):
        render_json({"x": "{{ row.nan }}"}, context(nan=float("nan")))


HOSTILE_VALUES = [
    'quote " inside',
    "new\nline and \r return",
    'back\\slash \\" escaped',
    '"}, "admin": true, "x": {"',
    "unicode ✓ — 日本語 \u2028 \u0000",
    "{{ row.other }} not a template",
    "007",
    "1e309",
    "</script><script>alert(1)</script>",
    "",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_body_stays_valid_json_whatever_the_cell_holds(value: str) -> None:
    config = RequestConfig(
        method="POST",
        endpoint="https://api.example.com/",
        body={
            "native": "{{ row.v }}",
            "text": "name: {{ row.v }}",
            "nested": [{"v": "{{ row.v }}"}],
            "{{ row.v }}": "as a key",
            "json": "{{ row.v | tojson }}",
        },
    )
    rendered = render_request(config, context(v=value))
    assert rendered.content is not None
    parsed = json.loads(rendered.content)
    assert parsed["native"] == value
    assert parsed["text"] == f"name: {value}"
    assert parsed["nested"] == [{"v": value}]
    assert parsed[value] == "as a key"
    assert json.loads(parsed["json"]) == value
    assert "admin" not in parsed


def test_template_column_keys_come_from_the_syntax_tree() -> None:
    source = (
        "{{ row.a }}{{ row['b c'] }}{% if row.c > 1 %}{{ row.d | default('') }}{% endif %}"
        "{% for x in row.e %}{{ x.not_a_column }}{% endfor %}{{ other.f }}{{ 'row.g' }}"
    )
    assert template_column_keys(source) == {"a", "b c", "c", "d", "e"}
    assert template_column_keys("plain text") == set()


def test_template_secret_names() -> None:
    source = "{{ get_secret('a') }}:{{ get_secret(\"b\") }}{{ row.get_secret }}"
    assert template_secret_names(source) == {"a", "b"}


def test_expressions_evaluate_to_values() -> None:
    assert evaluate_expression("row.score > 3 and row.name", context(score=4, name="x")) == "x"
    assert evaluate_expression("row.score > 3", context(score=2)) is False


def test_templates_are_compiled_once_and_reused() -> None:
    source = "{{ row.unique_for_this_test }}"
    assert compile_template(source) is compile_template(source)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # A blank cell is an empty value: arithmetic gives a blank, comparisons are false.
        ("row.blank + 1", None),
        ("row.blank * 2", None),
        ("10 / row.blank", None),
        ("-row.blank", None),
        ("row.blank > 100", False),
        ("row.blank <= 100", False),
        ("row.blank == none", True),
        ("row.blank != 3", True),
        ("'x' in row.blank", False),
        ("'x' not in row.blank", True),
        ("row.blank ~ 'x' ~ row.blank", "x"),
        # A number written as text (a CSV cell) compares as a number.
        ("row.size > 1000", True),
        ("1 < row.count < 10", True),
        ("row.count + 1", 4),
    ],
)
def test_blank_cells_in_arithmetic_and_comparisons(expression: str, expected: Any) -> None:
    ctx = TemplateContext(row={"size": "1,200", "count": 3}, columns={"blank", "size", "count"})
    assert evaluate_expression(expression, ctx) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("row.name > 3", "cannot compare text with a number using >"),
        ("row.count / 0", "Divide by zero."),
        ("lowr(row.name)", "There is no function lowr(), did you mean lower()?"),
    ],
)
def test_what_cannot_be_computed_says_why(expression: str, message: str) -> None:
    ctx = TemplateContext(row={"name": "Ada", "count": 3}, columns={"name", "count"})
    with pytest.raises(TemplateError, match=re.escape(message)):
        evaluate_expression(expression, ctx)


def test_a_formula_is_one_expression_without_secrets() -> None:
    from connectors.template_values import RowView
    from connectors.templating import compile_formula

    formula = compile_formula("concat(lower(row.first), '.', lower(row.last))")
    assert formula.keys == {"first", "last"}
    assert formula.evaluate(RowView({"first": "Ada", "last": "L"}, ["first", "last"])) == "ada.l"
    for source, message in [
        ("get_secret('k')", "A formula cannot use get_secret()"),
        ("row.a }}{{ row.b", "A formula is one expression"),
        ("  ", "Write the formula"),
    ]:
        with pytest.raises(TemplateError, match=re.escape(message)):
            compile_formula(source)
