"""What a template may do with ``get_secret()``: call it where it is named, send its value as
it is or through a few encodings, and nothing else — and every form it sends is remembered so
the masker finds it wherever it comes back."""

from __future__ import annotations

import itertools
import json
import secrets
from urllib.parse import quote, quote_plus

import pytest

from connectors import TemplateContext, TemplateError, evaluate_expression, render_template
from connectors.config import RequestConfig
from connectors.debug import MASK, Masker
from connectors.request import render_request
from connectors.secret_flow import SECRET_SAFE_FILTERS
from connectors.templating import (
    CONDITION_SECRET_MESSAGE,
    ENVIRONMENT,
    check_template,
    compile_url_template,
)
from connectors.url_parts import RAW_PATH_FILTER

#: Every character that URL, form, JSON or base64 encoding treats specially, and non-ASCII.
SPECIAL = '/+"\\=&?#% é€'


def special_secret() -> tuple[str, tuple[str, str]]:
    """A secret full of special characters around two unique markers: any form of it that
    keeps its text (encoded or escaped) keeps the markers."""
    markers = (secrets.token_hex(8), secrets.token_hex(8))
    return f"{markers[0]}{SPECIAL}{markers[1]}", markers


def context_with(value: str) -> TemplateContext:
    return TemplateContext(row={"id": 7}, secrets={"k": value})


@pytest.mark.parametrize(
    "template",
    [
        "{% set g = get_secret %}{{ g('k')|reverse|join }}",
        "{% for g in [get_secret] %}{{ g('k')|reverse|join }}{% endfor %}",
        "{% macro m(f) %}{{ f('k')|reverse|join }}{% endmacro %}{{ m(get_secret) }}",
        "{% set g = get_secret %}{{ g('k')|upper }}",
        "{% with g = get_secret %}{{ g('k')|upper }}{% endwith %}",
        "{{ [get_secret][0]('k')|upper }}",
        "{{ {'g': get_secret}.g('k')|upper }}",
        "{% set get_secret = row.id %}{{ get_secret }}",
        "{% macro m(get_secret) %}{{ get_secret('k')|upper }}{% endmacro %}{{ m(row.id) }}",
        "{{ get_secret('k')|upper }}",
        # Statements that capture what they render, so a secret printed inside comes back changed.
        "{% filter reverse %}{{ get_secret('k') }}{% endfilter %}",
        "{% set s %}{{ get_secret('k') }}{% endset %}{{ s|reverse|join }}",
        "{% macro m() %}{{ get_secret('k') }}{% endmacro %}{{ m()|reverse|join }}",
        "{% macro m() %}{{ caller()|upper }}{% endmacro %}{% call m() %}{{ get_secret('k') }}"
        "{% endcall %}",
        "{% block b %}{{ get_secret('k') }}{% endblock %}{{ self.b()|reverse|join }}",
        "{% autoescape true %}{{ get_secret('k') }}{% endautoescape %}",
        "{% for x in [[[]]] recursive %}{{ get_secret('k') }}{{ loop(x)|upper }}{% endfor %}",
    ],
)
def test_a_secret_reached_other_than_by_a_direct_call_is_refused_on_save_and_at_render(
    template: str,
) -> None:
    value, _ = special_secret()
    with pytest.raises(TemplateError, match=r"get_secret\(\)") as on_save:
        check_template(template)
    with pytest.raises(TemplateError, match=r"get_secret\(\)") as at_render:
        render_template(template, context_with(value))
    for message in (on_save.value.message, at_render.value.message):
        assert value not in message


@pytest.mark.parametrize(
    "template",
    [
        "Bearer {{ get_secret('k') }}",
        "{{ 'Key ' ~ get_secret('k')|urlencode }}",
        "{{ get_secret('k')|tojson|base64_encode }}",
        "{{ base64_encode('ada:' ~ get_secret('k')) }}",
        "{% if row.id %}{{ get_secret('k') }}{% endif %}",
        "{% for i in range(2) %}{{ get_secret('k') }};{% endfor %}",
    ],
)
def test_a_secret_sent_as_it_is_or_encoded_is_accepted(template: str) -> None:
    check_template(template)


def test_a_condition_cannot_reach_get_secret_through_an_alias_even_unchecked() -> None:
    value, _ = special_secret()
    conditions = context_with(value).without_secrets(CONDITION_SECRET_MESSAGE)
    with pytest.raises(TemplateError) as refused:
        evaluate_expression("[get_secret][0]('k') == 'x'", conditions)
    assert value not in refused.value.message
    # Compiled past the save-time check, the lookup itself still refuses.
    unchecked = ENVIRONMENT.from_string("{% set g = get_secret %}{{ g('k')|reverse|join }}")
    with pytest.raises(TemplateError, match="A condition cannot use get_secret"):
        unchecked.render(conditions.variables())
    assert conditions.secret_values() == frozenset()


def encodings_by_chance(text: str) -> set[str]:
    """What the request, or an API echoing it, may do to a rendered value after it leaves the
    template: percent-encode it as a form or a URL part, or JSON-escape it."""
    return {
        text,
        quote(text, safe=""),
        quote_plus(text),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    }


ALLOWED_CHAINS = [
    chain
    for length in (1, 2, 3)
    for chain in itertools.product(sorted(SECRET_SAFE_FILTERS - {RAW_PATH_FILTER}), repeat=length)
]


@pytest.mark.parametrize("chain", ALLOWED_CHAINS, ids="|".join)
def test_every_form_an_allowed_filter_chain_makes_is_masked(chain: tuple[str, ...]) -> None:
    value, markers = special_secret()
    template = "{{ get_secret('k')|" + "|".join(chain) + " }}"
    context = context_with(value)
    rendered = render_template(template, context)
    masker = Masker(context.secret_values())
    for form in encodings_by_chance(rendered):
        masked = masker(f"<{form}>")
        assert masked == f"<{MASK}>", (chain, form)
        assert not any(marker in masked for marker in markers)


@pytest.mark.parametrize(
    ("endpoint", "wire_path"),
    [
        ("https://api.example.test/v1/{{ get_secret('k') }}/x", lambda s: quote(s, safe="")),
        (
            "https://api.example.test/v1/{{ get_secret('k')|urlencode }}/x",
            lambda s: quote(quote(s, safe="/"), safe=""),
        ),
        (
            "https://api.example.test/v1/{{ get_secret('k')|tojson|urlencode }}/x",
            lambda s: quote(quote(json.dumps(s, ensure_ascii=False), safe="/"), safe=""),
        ),
    ],
)
def test_a_secret_in_the_endpoint_path_is_masked_as_sent_even_encoded_twice(
    endpoint: str, wire_path
) -> None:
    value, _ = special_secret()
    context = context_with(value)
    rendered = render_request(RequestConfig(endpoint=endpoint), context)
    sent = wire_path(value)
    assert rendered.url.raw_path.decode() == f"/v1/{sent}/x"
    masker = Masker(context.secret_values() | rendered.secret_derived_values)
    assert masker(str(rendered.url)) == f"https://api.example.test/v1/{MASK}/x"


def test_a_secret_in_the_endpoint_query_and_the_query_fields_is_masked_as_sent() -> None:
    value, _ = special_secret()
    context = context_with(value)
    config = RequestConfig(
        endpoint="https://api.example.test/find?key={{ get_secret('k')|urlencode }}",
        query={"j": "{{ get_secret('k')|tojson|urlencode }}"},
    )
    rendered = render_request(config, context)
    masker = Masker(context.secret_values() | rendered.secret_derived_values)
    assert masker(str(rendered.url)) == f"https://api.example.test/find?key={MASK}&j={MASK}"
    # As the API reads them back, once decoded.
    for name in ("key", "j"):
        assert masker(rendered.url.params[name]) == MASK


def test_a_secret_in_the_host_is_masked_as_the_lower_cased_host_name() -> None:
    context = TemplateContext(secrets={"tenant": "Acme-Private"})
    rendered = render_request(
        RequestConfig(endpoint="https://{{ get_secret('tenant') }}.example.test/"), context
    )
    masker = Masker(context.secret_values() | rendered.secret_derived_values)
    assert rendered.url.host == "acme-private.example.test"
    assert (
        masker(f"Could not resolve {rendered.url.host}.")
        == f"Could not resolve {MASK}.example.test."
    )


def test_raw_path_sends_a_plain_secret_unencoded_and_refuses_one_it_would_split() -> None:
    plain = TemplateContext(secrets={"k": "bot123:AAH-token_value"})
    endpoint = "https://api.example.test/{{ get_secret('k')|raw_path }}/send"
    assert compile_url_template(endpoint).render_text(plain) == (
        "https://api.example.test/bot123:AAH-token_value/send"
    )
    value, _ = special_secret()
    with pytest.raises(TemplateError, match="remove \\|raw_path") as refused:
        compile_url_template(endpoint).render_text(context_with(value))
    assert value not in refused.value.message
