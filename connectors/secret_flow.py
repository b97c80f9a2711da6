"""What a template may do with a secret from ``get_secret()``, and how its forms are known.

Two halves of one rule: ``check_secret_flow`` refuses, when a template is saved (compiled), any
use of a secret that could turn it into text no mask recognises; ``SecretForms`` then marks
every expression that makes a new form of a secret (``|urlencode``, ``base64_encode(…)``, the
endpoint's percent-encoding), so each form rendered is reported to the template's context and
masked wherever it comes back. Together: what a template sends of a secret is either the
secret or a form the masker was told about.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.runtime import Context
from jinja2.visitor import NodeTransformer

from connectors.errors import TemplateError
from connectors.template_values import to_text
from connectors.url_parts import RAW_PATH_FILTER, URL_PART_FILTER

#: The context variable through which a render reports the forms it made of a secret; not a
#: name a template can write.
SECRET_FORMS_VARIABLE = "enrich:secret_forms"  # noqa: S105 - a name, not a password

#: What may be done with a secret inside a template: send it as it is, joined to other text,
#: or in an encoding the masker also recognises. Anything else (``|reverse``, ``|upper``,
#: slicing, a method call, a comparison) could turn it into text that no mask would catch.
SECRET_SAFE_FILTERS = frozenset(
    {"urlencode", "base64_encode", "tojson", "trim", "string", RAW_PATH_FILTER}
)
_SECRET_SAFE_FUNCTIONS = frozenset({"base64_encode", "tojson"})
#: The filter that records each form a template makes of a secret (added after the check).
_SECRET_FORM_FILTER = "_secret_form"  # noqa: S105 - a filter name, not a password
_RAW_SECRET_FILTER = "_raw_url_secret"  # noqa: S105 - a filter name, not a password
#: Filters that pass a secret on: the safe ones and those Enrich itself wraps expressions in.
_SECRET_CARRYING_FILTERS = SECRET_SAFE_FILTERS | {
    URL_PART_FILTER,
    _SECRET_FORM_FILTER,
    _RAW_SECRET_FILTER,
}
#: Statements whose rendered text is captured, transformed or rendered again: a secret printed
#: inside one could come back changed (``{% filter reverse %}``, ``{{ m()|upper }}``,
#: ``{% set s %}…{% endset %}{{ s|reverse }}``, ``caller()``, ``self.block()``, ``loop()``).
_CAPTURING_STATEMENTS = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.AssignBlock,
    nodes.Block,
    nodes.EvalContextModifier,
)


def _is_secret_lookup(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "get_secret"
    )


def _carries_secret(node: nodes.Node) -> bool:
    """Whether ``node``'s value may be (or contain) a secret that was looked up."""
    if _is_secret_lookup(node):
        return True
    if isinstance(node, nodes.Filter):
        # An unsafe filter is refused where it stands, so only safe ones pass a secret on.
        return (
            node.name in _SECRET_CARRYING_FILTERS
            and node.node is not None
            and _carries_secret(node.node)
        )
    if isinstance(node, nodes.Concat):
        return any(_carries_secret(child) for child in node.nodes)
    if isinstance(node, nodes.Add):
        return _carries_secret(node.left) or _carries_secret(node.right)
    if isinstance(node, nodes.CondExpr):
        return _carries_secret(node.expr1) or (
            node.expr2 is not None and _carries_secret(node.expr2)
        )
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
        return node.node.name in _SECRET_SAFE_FUNCTIONS and any(
            _carries_secret(arg) for arg in node.args
        )
    return False


def _consumes_safely(parent: nodes.Node, child: nodes.Node) -> bool:
    """Whether ``parent`` passes its secret-carrying ``child`` on unchanged (or encoded)."""
    if isinstance(parent, nodes.Output | nodes.Concat | nodes.Add):
        return True
    if isinstance(parent, nodes.Filter):
        return parent.node is child and parent.name in SECRET_SAFE_FILTERS
    if isinstance(parent, nodes.CondExpr):
        return child is not parent.test
    if isinstance(parent, nodes.Call) and isinstance(parent.node, nodes.Name):
        return parent.node.name in _SECRET_SAFE_FUNCTIONS and any(
            arg is child for arg in parent.args
        )
    return False


def check_secret_flow(tree: nodes.Node) -> None:
    """Refuse a template that could change a looked-up secret into something else.

    A secret may be sent as it is, joined to other text (``"Bearer " ~ get_secret('t')``) or
    through ``urlencode``, ``base64_encode``, ``tojson``, ``trim`` and ``string``: the engine
    records the forms those make and masks them wherever they come back. Reversed, upper-cased,
    sliced, compared or looped over, it could come back in a form no mask recognises. So
    ``get_secret`` is only ever called where it is named (an alias such as ``{% set g =
    get_secret %}`` or a macro argument would escape this check), and never inside a statement
    that captures what it renders.
    """
    pairs = [
        (parent, child)
        for parent in [tree, *tree.find_all(nodes.Node)]
        for child in parent.iter_child_nodes()
    ]
    for parent, child in pairs:
        if not (isinstance(child, nodes.Name) and child.name == "get_secret"):
            continue
        called = isinstance(parent, nodes.Call) and parent.node is child
        if child.ctx != "load" or not called:
            raise TemplateError(
                "get_secret() can only be called directly, as get_secret('NAME'); "
                f"this template uses the name get_secret in {_describe_use(parent)}."
            )
    for statement in tree.find_all(nodes.Stmt):
        captures = isinstance(statement, _CAPTURING_STATEMENTS) or (
            isinstance(statement, nodes.For) and statement.recursive
        )
        if captures and any(_is_secret_lookup(call) for call in statement.find_all(nodes.Call)):
            raise TemplateError(
                f"A secret from get_secret() cannot be used inside {_describe_use(statement)}: "
                "the text it renders there could come back changed."
            )
    for parent, child in pairs:
        if _carries_secret(child) and not _consumes_safely(parent, child):
            raise TemplateError(
                "A secret from get_secret() can only be sent as it is, joined to other "
                f"text with ~, or through {', '.join(sorted(SECRET_SAFE_FILTERS))}; "
                f"this template uses it in {_describe_use(parent)}."
            )


def _describe_use(node: nodes.Node) -> str:
    if isinstance(node, nodes.Filter):
        return f"the filter {node.name}"
    if isinstance(node, nodes.Getattr):
        return f"“.{node.attr}”"
    if isinstance(node, nodes.Getitem | nodes.Slice):
        return "an index or slice"
    if isinstance(node, nodes.Call):
        return "a function call"
    if isinstance(node, nodes.Test):
        return f"the test “is {node.name}”"
    if isinstance(node, nodes.Compare):
        return "a comparison"
    if isinstance(node, nodes.For):
        return "a recursive loop" if node.recursive else "a loop"
    if isinstance(node, nodes.If | nodes.CondExpr):
        return "a condition"
    if isinstance(node, nodes.Macro):
        return "a macro"
    if isinstance(node, nodes.CallBlock):
        return "a {% call %} block"
    if isinstance(node, nodes.FilterBlock):
        return "a {% filter %} block"
    if isinstance(node, nodes.AssignBlock):
        return "a {% set %} block"
    if isinstance(node, nodes.Block):
        return "a {% block %}"
    if isinstance(node, nodes.EvalContextModifier):
        return "an {% autoescape %} block"
    if isinstance(node, nodes.Assign | nodes.With):
        return "a variable"
    if isinstance(node, nodes.List | nodes.Tuple | nodes.Dict | nodes.Pair):
        return "a list or a dict"
    return f"a {type(node).__name__.lower()} expression"


class SecretForms(NodeTransformer):
    """Wrap every expression that makes a new form of a secret (``|urlencode``,
    ``base64_encode(…)``, an endpoint's ``_url_part``) in a filter that records the text it
    made, so the masker knows the exact form sent, however many encodings were chained.

    In an endpoint, a secret sent with ``|raw_path`` is checked too: see ``_raw_url_secret``.
    The filters are registered in the environment by ``SECRET_FILTERS``.
    """

    def __init__(self, *, url: bool) -> None:
        self.url = url

    def visit_Filter(self, node: nodes.Filter) -> nodes.Node:
        self.generic_visit(node)
        if self.url and node.name == RAW_PATH_FILTER and _carries_secret(node):
            return _wrapped(node, _RAW_SECRET_FILTER)
        return _wrapped(node, _SECRET_FORM_FILTER) if _carries_secret(node) else node

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        self.generic_visit(node)
        if _is_secret_lookup(node) or not _carries_secret(node):
            return node  # get_secret() remembers its own value
        return _wrapped(node, _SECRET_FORM_FILTER)


def _wrapped(node: nodes.Expr, filter_name: str) -> nodes.Filter:
    return nodes.Filter(node, filter_name, [], [], None, None, lineno=node.lineno)


@pass_context
def _secret_form(context: Context, value: Any) -> Any:
    """Report ``value``, a form of a secret, to the ``TemplateContext`` rendering it."""
    remember = context.get(SECRET_FORMS_VARIABLE)
    if remember is not None:
        remember(to_text(value))
    return value


#: What a secret sent with ``|raw_path`` may hold: characters every client and server passes
#: through a URL unchanged and that change nothing of its structure. Anything else (``/ ? # &
#: = + %``, spaces, non-ASCII) is re-encoded or split into parts no mask would recognise.
_RAW_URL_SECRET = re.compile(r"[A-Za-z0-9\-._~!$'()*,;:@]*")


@pass_context
def _raw_url_secret(context: Context, value: Any) -> Any:
    """A secret going into the URL unencoded: refused unless it holds only plain characters."""
    if not _RAW_URL_SECRET.fullmatch(to_text(value)):
        raise TemplateError(
            "A secret sent with |raw_path may only hold letters, digits and - . _ ~ ! $ ' ( ) * "
            ", ; : @; remove |raw_path so the secret is percent-encoded for the URL."
        )
    return _secret_form(context, value)


#: The filters ``SecretForms`` adds, for the template environment.
SECRET_FILTERS = {_SECRET_FORM_FILTER: _secret_form, _RAW_SECRET_FILTER: _raw_url_secret}
