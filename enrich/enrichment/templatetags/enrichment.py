"""Template helpers of enrichment pages: the collapsible JSON tree of a cell's value, and how
long a run took or has left."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

register = template.Library()

#: A huge answer is shown up to this many nodes; the raw JSON is in the debug record.
MAX_NODES = 2000
OPEN_UP_TO = 8


@register.filter
def duration(value: timedelta) -> str:
    """How long a run took: ``850 ms``, ``12 s``, ``3 min 4 s``, ``2 h 5 min``."""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    return seconds_left(round(seconds))


@register.filter
def seconds_left(seconds: int) -> str:
    """A whole number of seconds as people say it: ``45 s``, ``3 min 4 s``, ``2 h 5 min``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def ago(moment: datetime) -> str:
    """``just now`` in the first minute, then ``3 minutes ago``, ``2 hours, 5 minutes ago``."""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


@register.simple_tag
def json_tree(value: Any, field_url: str = "") -> SafeString:
    """``value`` as nested ``<details>``; with ``field_url`` every node gets an "Add as column"
    button that posts its dot path there. Every piece goes through ``format_html``."""
    return _node(value, "", field_url, [MAX_NODES])


def _add_button(path: str, field_url: str) -> SafeString:
    if not field_url or not path:
        return SafeString("")
    return format_html(
        '<button type="button" class="json-tree__add button button--link" hx-post="{}" '
        'hx-vals="{}" title="Add {} as a column">+ column</button>',
        field_url,
        json.dumps({"path": path}),
        path,
    )


def _node(value: Any, path: str, field_url: str, budget: list[int]) -> SafeString:
    budget[0] -= 1
    if budget[0] < 0:
        return format_html('<span class="json-tree__more">{}</span>', "…")
    if isinstance(value, dict | list):
        items = list(value.items() if isinstance(value, dict) else enumerate(value))
        count = len(items)
        if isinstance(value, dict):
            label = f"{{{count} key{'' if count == 1 else 's'}}}"
        else:
            label = f"[{count} item{'' if count == 1 else 's'}]"
        children = format_html_join(
            "",
            '<li><span class="json-tree__key">{}</span> {}</li>',
            (
                (key, _node(item, f"{path}.{key}" if path else str(key), field_url, budget))
                for key, item in items
            ),
        )
        shape = (
            '<details class="json-tree__branch" open><summary>{} {}</summary><ul>{}</ul></details>'
            if not path or len(items) <= OPEN_UP_TO
            else '<details class="json-tree__branch"><summary>{} {}</summary><ul>{}</ul></details>'
        )
        return format_html(shape, label, _add_button(path, field_url), children)
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    kind = "null" if value is None else type(value).__name__
    return format_html(
        '<span class="json-tree__leaf json-tree__leaf--{}">{}</span>{}',
        kind,
        shown,
        _add_button(path, field_url),
    )
