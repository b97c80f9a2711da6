"""Template filters for the credential pages."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    """A value as indented JSON (for debug records and public keys); escaped by the template."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@register.filter
def header_lines(headers: dict[str, str] | None) -> str:
    """Headers as ``Name: value`` lines, the way an HTTP message shows them."""
    return "\n".join(f"{name}: {value}" for name, value in (headers or {}).items())
