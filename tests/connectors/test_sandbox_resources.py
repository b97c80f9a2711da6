"""Memory and time attacks on user templates: each is stopped with a clear template error,
quickly and with little memory, whatever it tries to grow (text, bytes, lists, loops)."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from connectors import TemplateContext, TemplateError, render_template

#: What any one attack may cost at most. The limits themselves are 1 MiB per value and one
#: second per render; these bounds leave room for a loaded machine.
MAX_PEAK_BYTES = 50 * 1024 * 1024
MAX_SECONDS = 3.0

ATTACKS = {
    "translate to a huge mapping": "{{ ('a' * 500).translate({97: 'b' * 1000000}) }}",
    "unicode_escape doubling": "{{ ('\\\\' * 600000).encode('unicode_escape').decode()"
    ".encode('unicode_escape').decode().encode('unicode_escape').decode() }}",
    "bytes join": "{{ ('x' * 1000000).encode().join([('y' * 1000000).encode()] * 50) }}",
    "bytes replace": "{{ ('x' * 1000000).encode().replace('x'.encode(), ('y' * 1000).encode()) }}",
    "bytes center": "{{ 'x'.encode().center(100000000) }}",
    "str to list": "{{ ('a' * 1000000) | list | length }}",
    "split into many": "{{ ('a ' * 500000).split() | length }}",
    "splitlines into many": "{{ ('ab\\n' * 400000).splitlines() | length }}",
    "urlencode growth": "{{ ('%' * 1000000) | urlencode | urlencode | urlencode }}",
    "escape growth": "{{ ('<' * 1000000) | e | e | e }}",
    "upper of wide letters": "{{ ('ß' * 1000000).upper().upper() }}",
    "utf-32": "{{ ('a' * 1000000).encode('utf-32').decode('latin-1').encode('utf-32') }}",
    "hex doubling": "{{ ('a' * 1000000).encode().hex().encode().hex() }}",
    "concat doubling": "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "nested loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}"
    "{% endfor %}",
    "slow work in a loop": "{% for i in range(9000) %}{{ (range(10000) | list | sort | first) }}"
    "{{ ('a' * 1000000).count('b') }}{% endfor %}",
    "replace growth": "{{ ('a' * 1000000) | replace('a', 'aa') }}",
    "join growth": "{{ (['x' * 1000000] * 3) | join }}",
    "power": "{{ 999 ** 99999 }}",
    "repeat": "{{ 'a' * 100000000 }}",
    "list repeat": "{{ ([1] * 100000000) | length }}",
    "format width": "{{ '{:>100000000}'.format('a') }}",
    "percent width": "{{ '%100000000s' % 'a' }}",
    "recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "tojson growth": "{{ (['\\u2603' * 100000] * 60) | tojson }}",
    "zfill": "{{ 'a'.zfill(100000000) }}",
}


@pytest.mark.parametrize("template", ATTACKS.values(), ids=ATTACKS.keys())
def test_each_attack_is_a_template_error_quickly_and_in_little_memory(template: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError) as refused:
        render_template(template, TemplateContext())
    elapsed = time.perf_counter() - started
    assert refused.value.message.startswith("The template"), refused.value.message
    assert elapsed < MAX_SECONDS, f"{elapsed:.2f} s"

    tracemalloc.start()
    try:
        with pytest.raises(TemplateError):
            render_template(template, TemplateContext())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK_BYTES, f"{peak / 1e6:.1f} MB"


def test_ordinary_templates_still_work_near_the_limits() -> None:
    context = TemplateContext(row={"name": "Ada", "tags": ["a", "b"]})
    assert render_template("{{ ('x' * 1000) | upper | length }}", context) == "1000"
    assert render_template("{{ row.name.encode().hex() }}", context) == "416461"
    assert render_template("{{ 'a-b-c'.split('-') | join('+') }}", context) == "a+b+c"
    assert render_template("{{ 'ab'.translate({97: 'xy'}) }}", context) == "xyb"
    assert render_template("{% for i in range(1000) %}{{ i % 10 }}{% endfor %}", context)[:5] == (
        "01234"
    )
