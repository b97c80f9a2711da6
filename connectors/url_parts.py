"""Row values in an endpoint URL are encoded for the part of the URL they sit in.

An endpoint such as ``https://api.example.com/people/{{ row.id }}?email={{ row.email }}``
must send the row's values as data, never as URL structure: a value ``../../admin`` or
``x?debug=1#`` must not change the path, the query or the fragment. So each ``{{ … }}`` of an
endpoint is encoded by where it stands, decided from the literal text before it:

- at the very start (``{{ row.website }}/about``): the URL's origin, inserted as written (the
  network guard and the account's allowed hosts vet where it points);
- in the host (``https://{{ row.tenant }}.example.com``): as written if it is a plain name,
  else percent-encoded, which makes it an invalid host name (a clear error);
- in the path, the query or the fragment: percent-encoded, every reserved character included
  (``/ ? # & = + %``); a value that is exactly ``.`` or ``..`` is encoded too.

A template that means to insert URL text (a prepared path like ``v2/people``, a whole query
string) says so with ``|raw_path``, which must be the expression's last filter.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from jinja2 import nodes

from connectors.template_values import to_text

#: The filter every endpoint expression is wrapped in, with the part of the URL it sits in.
URL_PART_FILTER = "_url_part"
#: The filter a user writes to insert text into the URL unencoded.
RAW_PATH_FILTER = "raw_path"

_PLACEHOLDER = "\x00"  # stands for an expression's output in the literal text seen so far
_PLAIN_HOST = re.compile(r"[^\s/?#@\\%]*")


class RawUrlText(str):
    """Text a template marked with ``|raw_path``: inserted into the URL as it is."""

    __slots__ = ()


def raw_path(value: Any) -> RawUrlText:
    """``|raw_path``: insert ``value`` into the endpoint URL unencoded."""
    return RawUrlText(to_text(value))


def url_part(value: Any, part: str) -> str:
    """``value`` encoded for ``part`` of a URL: origin, host, path, query or fragment."""
    text = to_text(value)  # as in any text: None is empty, booleans are true/false
    if isinstance(value, RawUrlText) or part == "origin":
        return text
    if part == "host" and _PLAIN_HOST.fullmatch(text):
        return text
    if part == "path" and text in {".", ".."}:
        return text.replace(".", "%2E")  # RFC 3986 section 5.2.4: not a dot-segment then
    return quote(text, safe="")


def url_part_before(prefix: str) -> str:
    """The part of a URL that text appended to ``prefix`` lands in."""
    if "#" in prefix:
        return "fragment"
    if "?" in prefix:
        return "query"
    scheme_end = prefix.find("://")
    if scheme_end >= 0:
        return "path" if "/" in prefix[scheme_end + 3 :] else "host"
    return "path" if "/" in prefix else "origin"


def mark_url_parts(tree: nodes.Template) -> nodes.Template:
    """Wrap every output expression of a parsed endpoint template in ``_url_part(part)``.

    The part is read from the literal text before the expression, in source order (text in
    an ``{% if %}`` counts as if it were rendered).
    """
    seen: list[str] = []

    def visit(node: nodes.Node) -> None:
        if isinstance(node, nodes.Output):
            marked: list[nodes.Expr] = []
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    seen.append(child.data)
                    marked.append(child)
                    continue
                part = url_part_before("".join(seen))
                seen.append(_PLACEHOLDER)
                marked.append(
                    nodes.Filter(
                        child,
                        URL_PART_FILTER,
                        [nodes.Const(part)],
                        [],
                        None,
                        None,
                        lineno=child.lineno,
                    )
                )
            node.nodes = marked
            return
        for inner in node.iter_child_nodes():
            visit(inner)

    visit(tree)
    return tree


#: The filters the sandbox adds for endpoint templates.
URL_FILTERS = {URL_PART_FILTER: url_part, RAW_PATH_FILTER: raw_path}


def endpoint_host(endpoint: str) -> str | None:
    """The host an endpoint template's literal text names (lower case), or None when a
    template writes the host (``{{ row.url }}``, ``https://{{ row.tenant }}.example.com``)."""
    literal = re.split(r"\{[{%#]", endpoint, maxsplit=1)[0]
    templated = len(literal) < len(endpoint)
    scheme_end = literal.find("://")
    if scheme_end < 0:
        return None
    authority = literal[scheme_end + 3 :]
    end = re.search(r"[/?#]", authority)
    if end is None and templated:
        return None  # the host may go on in the template
    authority = authority[: end.start()] if end else authority
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else None
    return host.partition(":")[0].lower().rstrip(".") or None
