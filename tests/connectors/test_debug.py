"""The masker: every form a secret travels in is replaced, and a short secret only where it
stands alone."""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import quote, quote_plus

import pytest

from connectors.debug import MASK, SHORT_SECRET_LENGTH, Masker

SPECIAL = '/+"\\=&?#% é€'


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def tojson(text: str) -> str:
    """What the template filter ``tojson`` makes of text."""
    return json.dumps(text, ensure_ascii=False)


def json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


FORMS = {
    "raw": lambda s: s,
    "path or query part": lambda s: quote(s, safe=""),
    "form field": quote_plus,
    "jinja urlencode (keeps /)": lambda s: quote(s, safe="/"),
    "JSON string": json_escaped,
    "JSON string, UTF-8": lambda s: tojson(s)[1:-1],
    "JSON string, HTML-safe (Go)": lambda s: (
        json_escaped(s).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    ),
    "JSON body echoed inside JSON": lambda s: json_escaped(json_escaped(s)),
    "base64": b64,
    "base64 url-safe, unpadded": lambda s: (
        base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
    ),
    "tojson|urlencode": lambda s: quote(tojson(s), safe="/"),
    "tojson|base64_encode": lambda s: b64(tojson(s)),
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_a_secret_with_special_characters_is_masked_in_every_form_it_travels_in(form) -> None:
    marker = secrets.token_hex(8)
    secret = f"{marker}{SPECIAL}{marker[::-1]}"
    masked = Masker([secret])(f"echo: <{form(secret)}>")
    # Quotes around the JSON text (%22) may stay; nothing of the secret may.
    assert masked in (f"echo: <{MASK}>", f"echo: <%22{MASK}%22>")
    assert marker not in masked and marker[::-1] not in masked


def test_a_secret_is_masked_trimmed_as_the_trim_filter_sends_it() -> None:
    masker = Masker(["  padded-secret-value  "])
    assert masker("key=padded-secret-value;") == f"key={MASK};"


def test_a_two_character_secret_is_masked_only_where_it_stands_alone() -> None:
    assert len("q7") < SHORT_SECRET_LENGTH
    masker = Masker(["q7"])
    message = "Request q7abc failed for aq7 and q7q7; the key was q7, see “q7”."
    assert masker(message) == (
        f"Request q7abc failed for aq7 and q7q7; the key was {MASK}, see “{MASK}”."
    )
    assert masker.value({"key": "q7", "note": "q7abc"}) == {"key": MASK, "note": "q7abc"}
