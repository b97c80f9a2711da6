"""The sandbox: escape attempts and resource bombs fail safely, with a TemplateError.

Each bomb would run for minutes or exhaust memory without the limits; the per-test timeout
guards "fails fast" without asserting timings.
"""

from __future__ import annotations

import pytest

from connectors import TemplateContext, TemplateError, render_template, render_value

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ (1).__class__.__mro__ }}",
    "{{ row.__class__.__init__.__globals__ }}",
    "{{ get_secret.__globals__ }}",
    "{{ get_secret.__self__._lookup }}",
    "{{ now.__func__.__globals__ }}",
    "{{ range.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ row|attr('_cells') }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ config }}",
    "{{ request }}",
    "{{ '{0.__class__.__mro__}'.format(row) }}",
    "{{ '{0}'.format_map(row) }}",
    "{{ '%s' % row }}",
    "{{ [].append(1) }}",
    "{{ {}.update(a=1) }}",
    "{{ {}.setdefault('a', 1) }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% from 'os' import system %}",
    "{% extends 'base.html' %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_attempts_fail_with_a_template_error(source: str) -> None:
    ctx = TemplateContext(row={"name": "x"}, secrets={"k": "v"})
    with pytest.raises(TemplateError):
        render_template(source, ctx)


BOMBS = [
    ("{% for i in range(10**9) %}{% endfor %}", "range() is limited"),
    ("{{ range(10**9) | list | length }}", "range() is limited"),
    ("{{ 'a' * 10**10 }}", "repeating this value"),
    ("{{ [0] * 10**9 }}", "repeating this value"),
    ("{{ 9 ** (9 ** 9) }}", "bits"),
    ("{{ 9 ** 9 ** 9 ** 9 ** 9 }}", "bits"),  # Jinja's ** is left-associative
    ("{{ (2 ** 4000) * (2 ** 4000) }}", "bits"),
    (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "loop iterations",
    ),
    (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "characters",
    ),
    (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "characters",
    ),
    (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        "loop iterations and calls",
    ),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", ""),
    ("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", "characters"),
    ("{{ 'a'.center(10**9) }}", "width is limited"),
    ("{{ 'a'.ljust(10**9) }}", "width is limited"),
    ("{{ 'a'.zfill(10**9) }}", "width is limited"),
    ("{{ ('a\t' * 1000).expandtabs(10**6) }}", "expandtabs"),
    ("{{ ('a' * 100000) | replace('a', 'a' * 1000) }}", "replace() would exceed"),
    ("{{ ('a' * 100000).replace('a', 'a' * 1000) }}", "replace() would exceed"),
    ("{{ (['x' * 100000] * 1000) | join }}", "join() would exceed"),
    ("{{ ('x' * 1000).join(['y' * 1000] * 2000) }}", "join() would exceed"),
    ("{{ ([[1] * 1000] * 1000) | sum(start=[]) }}", "sum() adds numbers only"),
    ("{{ '{:>1000000000}'.format(1) }}", "str.format is not available"),
    ("{{ '%01000000000d' % 1 }}", "%-formatting is not available"),
    ("{{ 'x' | center(10**9) }}", "No filter named 'center'"),
    ("{{ 'x' | indent(10**9) }}", "No filter named 'indent'"),
    ("{{ 'x' | format(1) }}", "No filter named 'format'"),
    ("{{ lipsum(10**6) }}", "no function lipsum()"),
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("source", "reason"), BOMBS)
def test_resource_bombs_stop_at_a_limit(source: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_template(source, TemplateContext())
    assert reason in caught.value.message


def test_the_output_limit_counts_text_built_in_macros_and_blocks() -> None:
    source = (
        "{% set big %}{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}{% endset %}"
        "{% for i in range(1000) %}{{ big }}{% endfor %}"
    )
    with pytest.raises(TemplateError, match="characters"):
        render_template(source, TemplateContext())


def test_ordinary_templates_are_not_affected_by_the_limits() -> None:
    source = (
        "{% for item in row.people %}{{ loop.index }}:{{ item.name | title }}"
        "{% if not loop.last %}, {% endif %}{% endfor %}"
        " — {{ row.people | map(attribute='age') | sum }} years,"
        " {{ row.people | map(attribute='name') | join(', ') }},"
        " {{ 2 ** 64 }}, {{ 'ab' * 3 }}, {{ 'x'.rjust(3, '.') }}, {{ 'a b'.replace(' ', '_') }}"
    )
    people = [{"name": f"p{i}", "age": i} for i in range(200)]
    out = render_template(source, TemplateContext(row={"people": people}))
    assert out.startswith("1:P0, 2:P1")
    assert out.endswith(
        f"— {sum(range(200))} years, "
        + ", ".join(f"p{i}" for i in range(200))
        + ", 18446744073709551616, ababab, ..x, a_b"
    )


def test_a_loop_right_under_the_budget_renders() -> None:
    assert render_value("{{ range(5000) | list | length }}", TemplateContext()) == 5000
