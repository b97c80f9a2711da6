"""The formula functions as the formula panel lists them: by group, with how to call each
and what it does (the first line of its docstring)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from connectors.functions import FUNCTIONS

GROUPS = {
    "Text": [
        "lower", "upper", "trim", "concat", "split", "join", "replace", "left", "right", "mid",
        "length", "slug", "regex_match", "regex_extract", "regex_replace",
    ],
    "Email and URLs": ["domain", "strip_www", "url_host", "url_path", "url_query", "is_email"],
    "Numbers": ["round", "min", "max", "sum", "format_number", "to_number"],
    "Dates": ["today", "parse_date", "format_date", "add_days", "diff_days"],
    "Lists and JSON": [
        "get", "first", "last", "map_field", "filter_by", "unique", "compact", "to_json",
        "parse_json",
    ],
    "Logic": ["coalesce", "is_empty", "if_else"],
}  # fmt: skip


@dataclass(frozen=True)
class FunctionHelp:
    name: str
    call: str
    summary: str


def _help(name: str) -> FunctionHelp:
    function = FUNCTIONS[name]
    parameters = ", ".join(
        f"{parameter.name}…" if parameter.kind is parameter.VAR_POSITIONAL else parameter.name
        for parameter in inspect.signature(function).parameters.values()
    )
    summary = (inspect.getdoc(function) or "").split("\n", 1)[0].replace("``", "")
    return FunctionHelp(name=name, call=f"{name}({parameters})", summary=summary)


FUNCTION_GROUPS: list[tuple[str, list[FunctionHelp]]] = [
    (group, [_help(name) for name in names if name in FUNCTIONS]) for group, names in GROUPS.items()
]
