"""Rendering user templates: text, native values, JSON structures and expressions.

Templates are compiled once and cached by source, so rendering a column for a million rows
parses each template once. Rendering runs in the bounded sandbox (``sandbox.py``) and turns every
failure into a ``TemplateError`` with a one-line message.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from jinja2 import Template, Undefined, nodes
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.exceptions import TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context

from connectors.errors import ConnectorError, TemplateError
from connectors.filtering import drop_nulls
from connectors.functions import FUNCTIONS, suggest
from connectors.sandbox import (
    BoundedSandboxEnvironment,
    SandboxLimitError,
    close_budget,
    open_budget,
)
from connectors.secret_flow import (
    SECRET_FILTERS,
    SECRET_FORMS_VARIABLE,
    SecretForms,
    check_secret_flow,
)
from connectors.template_values import RowView, json_default
from connectors.url_parts import mark_url_parts

ENVIRONMENT = BoundedSandboxEnvironment()
ENVIRONMENT.filters.update(SECRET_FILTERS)
# One function library for every user expression: formulas, conditions and request templates.
ENVIRONMENT.globals.update(FUNCTIONS)
ENVIRONMENT.trusted_functions = frozenset(FUNCTIONS.values())
#: The names a template context provides (``TemplateContext.variables``), beside the globals.
CONTEXT_NAMES = frozenset({"row", "get_secret", "now", "account", "workspace"})
#: Names Jinja itself provides inside loops, macros and blocks.
_JINJA_NAMES = frozenset({"caller", "loop", "super", "self", "varargs", "kwargs"})

_TEMPLATE_CACHE_SIZE = 4096


class SecretLookup(Protocol):
    """Returns the value of a workspace secret by name, or None when there is no such secret."""

    def __call__(self, name: str, /) -> str | None: ...


#: Why a condition cannot read a secret (it is refused on save, and fails if it tries anyway).
CONDITION_SECRET_MESSAGE = (
    "A condition cannot use get_secret(): secrets can only be sent in the request (URL, query, "  # noqa: S105
    "headers, body and auth fields), never compared or shown."
)


class TemplateContext:
    """What templates can read: ``row``, ``get_secret(name)``, ``now(offset)``, ``account``,
    ``workspace``.

    ``columns`` lists every column of the row's table, so a blank cell (no key in ``row``)
    reads as None rather than as a missing column; see ``RowView``.

    Every secret value looked up is remembered (``secret_values()``) so the engine can mask it in
    debug records and messages, and so is every form a template made of one (``|urlencode``,
    ``|base64_encode``, an endpoint's percent-encoding…). Safe to share between threads.
    """

    def __init__(
        self,
        *,
        row: Mapping[str, Any] | RowView | None = None,
        columns: Iterable[str] | None = None,
        secrets: Mapping[str, str] | SecretLookup | None = None,
        account: Mapping[str, Any] | None = None,
        workspace: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.row = row if isinstance(row, RowView) else RowView(row or {}, columns)
        self._lookup: SecretLookup = _as_lookup(secrets)
        self.account = dict(account or {})
        self.workspace = dict(workspace or {})
        self._clock = clock
        self._used_secrets: set[str] = set()
        self._lock = threading.Lock()
        # The globals (the function library) are in the dict itself: each render then uses it
        # as it is, instead of Jinja copying the globals into a new dict every time.
        self._variables = {
            **ENVIRONMENT.globals,
            "row": self.row,
            "get_secret": self.get_secret,
            "now": self.now,
            "account": self.account,
            "workspace": self.workspace,
            # Not a name a template can write: only the filter that records secret forms reads it.
            SECRET_FORMS_VARIABLE: self.add_secret_values,
        }

    def get_secret(self, name: str) -> str:
        """Return the secret called ``name``; a missing secret is a TemplateError."""
        if not isinstance(name, str):
            raise TemplateError("get_secret() takes the secret's name as text.")
        value = self._lookup(name)
        if value is None:
            raise TemplateError(f"The secret {name!r} does not exist in this workspace.")
        value = str(value)
        if value:
            with self._lock:
                self._used_secrets.add(value)
        return value

    def for_account(self, account: Mapping[str, Any]) -> TemplateContext:
        """The same row and secrets with another account's basics (a step of a chain that
        uses its own account). Secrets it looks up are its own to mask."""
        return TemplateContext(
            row=self.row,
            secrets=self._lookup,
            account=account,
            workspace=self.workspace,
            clock=self._clock,
        )

    def without_secrets(self, why: str) -> TemplateContext:
        """The same context where ``get_secret()`` fails with ``why``: for templates whose output
        is not a request (a condition), so a secret can never reach a value or a message."""

        def refuse(name: str) -> str | None:
            raise TemplateError(why)

        return TemplateContext(
            row=self.row,
            secrets=refuse,
            account=self.account,
            workspace=self.workspace,
            clock=self._clock,
        )

    def now(self, offset: int = 0) -> int:
        """Unix time in whole seconds, plus ``offset`` seconds."""
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TemplateError("now() takes a whole number of seconds, e.g. now(3600).")
        return int(self._clock()) + offset

    def add_secret_values(self, *values: str) -> None:
        """Remember values that must be masked (e.g. an auth type's credentials)."""
        with self._lock:
            self._used_secrets.update(v for v in values if v)

    def secret_values(self) -> frozenset[str]:
        """Every secret value looked up so far."""
        with self._lock:
            return frozenset(self._used_secrets)

    def variables(self) -> dict[str, Any]:
        """The names a template sees, the globals included (shared by every render: a render's
        own assignments go to its own context, never into this dict)."""
        return self._variables


def _as_lookup(secrets: Mapping[str, str] | SecretLookup | None) -> SecretLookup:
    if secrets is None:
        return lambda name: None
    if isinstance(secrets, Mapping):
        return secrets.get
    return secrets


class CompiledTemplate:
    """A template compiled once: a literal, text, or a single ``{{ expression }}``."""

    __slots__ = ("_expression", "_template", "literal", "source", "uses_secrets")

    def __init__(self, source: str, *, url: bool = False) -> None:
        self.source = source
        self.literal: str | None = None
        self.uses_secrets = False
        self._template: Template | None = None
        #: A single expression, compiled as ``result = <expression>`` to keep its type.
        self._expression: Template | None = None
        # Most header and query values hold no template syntax at all; skip Jinja for them.
        if "{" not in source:
            self.literal = source
            return
        tree = ENVIRONMENT.parse_checked(source)
        self.uses_secrets = any(name.name == "get_secret" for name in tree.find_all(nodes.Name))
        if self.uses_secrets:
            check_secret_flow(tree)
        check_function_names(tree)
        expression = _single_expression(tree)
        if expression is not None:
            if self.uses_secrets:
                expression = SecretForms(url=False).visit(expression)
            assign = nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)
            self._expression = ENVIRONMENT.from_string(nodes.Template([assign], lineno=1))
        tree = ENVIRONMENT.parse_checked(source)
        # An endpoint: each expression is encoded for the part of the URL it sits in.
        if url:
            mark_url_parts(tree)
        if self.uses_secrets:
            SecretForms(url=url).visit(tree)
        self._template = ENVIRONMENT.from_string(tree)

    def render_text(self, context: TemplateContext) -> str:
        """Render to text."""
        if self.literal is not None:
            return self.literal
        assert self._template is not None
        template = self._template
        with _RenderGuard():
            render = template.root_render_func(_context(template, context.variables()))
            return ENVIRONMENT.concat(render)

    def render_value(self, context: TemplateContext) -> Any:
        """Render to a value: a single ``{{ expression }}`` keeps its type, anything else is text.

        A single expression that is undefined (a missing column) returns ``Undefined``; callers
        decide whether that is an error or a value to drop.
        """
        template = self._expression
        if template is None:
            return self.render_text(context)
        with _RenderGuard():
            render = _context(template, context.variables())
            for _ in template.root_render_func(render):
                pass
            return render.vars["result"]


#: Why a formula cannot read a secret: its value is stored, shown and exported.
FORMULA_SECRET_MESSAGE = (
    "A formula cannot use get_secret(): its value is stored and shown. Secrets can only be "  # noqa: S105
    "sent in a request."
)


class Formula:
    """A formula compiled once: one expression over ``row`` with the function library, and
    no secrets (its value is stored, shown and exported). Thread-safe; evaluating costs one
    render of a single expression, nothing per row is parsed again."""

    __slots__ = ("_globals", "_template", "_threads", "keys", "names", "source")

    def __init__(self, source: str, *, names: Iterable[str] = ()) -> None:
        #: Names besides ``row`` the formula may read, given to ``evaluate`` (a step's
        #: ``result``).
        self.names = frozenset(names)
        self.source = source
        if not source.strip():
            raise TemplateError("Write the formula, e.g. lower(row.email).")
        with _template_errors():
            tree = ENVIRONMENT.parse_checked("{{ " + source + " }}")
            expression = _single_expression(tree)
            if expression is None:
                raise TemplateError("A formula is one expression, e.g. lower(row.email).")
            if any(name.name == "get_secret" for name in tree.find_all(nodes.Name)):
                raise TemplateError(FORMULA_SECRET_MESSAGE)
            check_function_names(tree, extra=self.names)
            if _reads_row_as_a_whole(tree):
                raise TemplateError(
                    "A formula reads cells by name: row.email or row['work email'] (not the "
                    "whole row, nor a cell whose name is computed), so it knows when to update."
                )
            #: The column keys the formula reads.
            self.keys = frozenset(_column_keys(tree))
            assign = nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)
            self._template = ENVIRONMENT.from_string(nodes.Template([assign], lineno=1))
        self._globals = {**ENVIRONMENT.globals, **TemplateContext().variables()}
        # Each thread reuses one render context (the names it sees, with ``row`` set for each
        # row): an import evaluates a formula for every row, and building a context each time
        # (the globals copied, an evaluation context) cost more than a short expression.
        self._threads = threading.local()

    def evaluate(self, row: Mapping[str, Any] | RowView, **names: Any) -> Any:
        """The formula's value for ``row`` (a RowView, so blank cells read as None); a blank
        for a path that leads nowhere. Raises ``TemplateError`` with a one-line message."""
        template = self._template
        render: Context | None = getattr(self._threads, "context", None)
        if render is None:
            render = self._threads.context = _context(template, dict(self._globals))
        render.parent["row"] = row
        if names:
            render.parent.update(names)
        render.vars.clear()
        with _RenderGuard():
            for _ in template.root_render_func(render):
                pass
        value = render.vars["result"]
        return None if isinstance(value, Undefined) else value


@functools.lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def compile_formula(source: str, names: tuple[str, ...] = ()) -> Formula:
    """Compile a formula (cached); raise TemplateError for a syntax error, an unknown
    function or a secret, so a formula is checked when it is saved. ``names``: what it may
    read besides ``row``."""
    return Formula(source, names=names)


def _context(template: Template, variables: dict[str, Any]) -> Context:
    """A render's context over ``variables`` as they are (they hold the globals already).
    Jinja's own ``new_context`` would also copy the names of every global into a set on
    each render, which costs more than the render of a short expression."""
    return Context(ENVIRONMENT, variables, template.name, template.blocks)


def check_function_names(tree: nodes.Template, *, extra: Iterable[str] = ()) -> None:
    """Refuse a function or a name that does not exist, naming the closest function: a typo
    is a message on save ("no function lowr(), did you mean lower()?"; "no name emial: a
    cell is row.emial"), not an error on every row. Names the template binds itself (``set``,
    loops, macros) are its own."""
    bound = {name.name for name in tree.find_all(nodes.Name) if name.ctx in {"store", "param"}}
    bound |= {macro.name for macro in tree.find_all(nodes.Macro)}
    known = set(ENVIRONMENT.globals) | CONTEXT_NAMES | _JINJA_NAMES | set(extra) | bound
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name not in known:
            name = call.node.name
            close = suggest(name, candidates=sorted(known - bound - _JINJA_NAMES))
            hint = f", did you mean {close}()?" if close else " (see docs/formulas.md)."
            raise TemplateError(f"There is no function {name}(){hint}")
    for variable in tree.find_all(nodes.Name):
        unknown = variable.name not in known and not variable.name.startswith("_")
        if variable.ctx == "load" and unknown:
            raise TemplateError(
                f"There is no name {variable.name}: a cell of the row is row.{variable.name}."
            )


def _single_expression(tree: nodes.Template) -> nodes.Expr | None:
    if len(tree.body) == 1 and isinstance(tree.body[0], nodes.Output):
        children = tree.body[0].nodes
        if len(children) == 1 and not isinstance(children[0], nodes.TemplateData):
            expression: nodes.Expr = children[0]
            return expression
    return None


@functools.lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def compile_template(source: str) -> CompiledTemplate:
    """Compile ``source`` (cached); raise TemplateError on a syntax error."""
    with _template_errors():
        return CompiledTemplate(source)


@functools.lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def compile_url_template(source: str) -> CompiledTemplate:
    """Compile an endpoint URL template (cached): see ``connectors.url_parts``."""
    with _template_errors():
        return CompiledTemplate(source, url=True)


_RENDER_FAILURES = (
    JinjaTemplateError,
    # Python's compiler refuses the code of an expression nested past ~200 operators.
    SyntaxError,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    AttributeError,
    RecursionError,
    MemoryError,
)


@contextmanager
def _template_errors() -> Iterator[None]:
    """Turn everything a template can raise into a one-line TemplateError."""
    try:
        yield
    except ConnectorError:
        raise
    except _RENDER_FAILURES as exc:
        # The cause is dropped on purpose: its text can hold cell or secret values.
        raise TemplateError(_describe(exc)) from None


class _RenderGuard:
    """``render_budget()`` plus ``_template_errors()`` for the per-render hot path, as a class:
    generator-based context managers cost several microseconds each."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = open_budget()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: Any
    ) -> None:
        close_budget(self._token)
        if isinstance(exc, _RENDER_FAILURES) and not isinstance(exc, ConnectorError):
            raise TemplateError(_describe(exc)) from None


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip().rstrip(".").splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, TemplateSyntaxError):
        return f"Template syntax error on line {exc.lineno}: {detail}."
    if isinstance(exc, SandboxLimitError):
        return f"The template went over a limit: {detail}."
    if isinstance(exc, UndefinedError):
        return f"The template uses an undefined value: {detail}."
    if isinstance(exc, JinjaTemplateError):
        return f"The template is not allowed to do this: {detail}."
    if isinstance(exc, ZeroDivisionError):
        return "Divide by zero."
    if isinstance(exc, RecursionError):
        return "The template recursed too deeply."
    if isinstance(exc, MemoryError):
        return "The template needed too much memory."
    return f"The template failed: {detail or type(exc).__name__}."


def check_template(source: str) -> None:
    """Raise TemplateError if ``source`` is not a valid template (used by config validation)."""
    compile_template(source)


def render_template(source: str, context: TemplateContext) -> str:
    """Render ``source`` to text (None renders empty, booleans as ``true``/``false``)."""
    return compile_template(source).render_text(context)


def render_value(source: str, context: TemplateContext) -> Any:
    """Render ``source`` keeping the native type of a template that is one ``{{ expression }}``."""
    value = compile_template(source).render_value(context)
    if isinstance(value, Undefined):
        with _template_errors():
            value._fail_with_undefined_error()
    return value


def evaluate_expression(source: str, context: TemplateContext) -> Any:
    """Evaluate a bare expression such as ``row.score > 3`` (for "only run if" formulas)."""
    return render_value("{{ " + source + " }}", context)


def _collect(source: str, visit: Callable[[nodes.Template], set[str]]) -> set[str]:
    if "{" not in source:
        return set()
    with _template_errors():
        tree = ENVIRONMENT.parse_checked(source)
    return visit(tree)


def _reads_row_as_a_whole(tree: nodes.Template) -> bool:
    """Whether ``row`` is used other than as ``row.key`` or ``row['key']`` (passed whole to a
    function, indexed by a computed key): then no list of the cells it reads exists."""
    fixed: set[int] = set()
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "row":
            fixed.add(id(node.node))
    for item in tree.find_all(nodes.Getitem):
        if (
            isinstance(item.node, nodes.Name)
            and item.node.name == "row"
            and isinstance(item.arg, nodes.Const)
            and isinstance(item.arg.value, str)
        ):
            fixed.add(id(item.node))
    return any(
        name.name == "row" and name.ctx == "load" and id(name) not in fixed
        for name in tree.find_all(nodes.Name)
    )


def _column_keys(tree: nodes.Template) -> set[str]:
    keys: set[str] = set()
    for getattr_node in tree.find_all(nodes.Getattr):
        if isinstance(getattr_node.node, nodes.Name) and getattr_node.node.name == "row":
            keys.add(getattr_node.attr)
    for getitem in tree.find_all(nodes.Getitem):
        if (
            isinstance(getitem.node, nodes.Name)
            and getitem.node.name == "row"
            and isinstance(getitem.arg, nodes.Const)
            and isinstance(getitem.arg.value, str)
        ):
            keys.add(getitem.arg.value)
    return keys


def _secret_names(tree: nodes.Template) -> set[str]:
    names: set[str] = set()
    for call in tree.find_all(nodes.Call):
        is_lookup = isinstance(call.node, nodes.Name) and call.node.name == "get_secret"
        if is_lookup and call.args and isinstance(call.args[0], nodes.Const):
            names.add(str(call.args[0].value))
    return names


def template_column_keys(source: str) -> set[str]:
    """The column keys a template reads (``row.key`` and ``row['key']``), from its syntax tree."""
    return _collect(source, _column_keys)


def template_secret_names(source: str) -> set[str]:
    """The secret names a template looks up with ``get_secret('name')``."""
    return _collect(source, _secret_names)


def uses_secrets(source: str) -> bool:
    """Whether a template calls ``get_secret`` at all (even with a computed name)."""
    return compile_template(source).uses_secrets


def render_json(template: Any, context: TemplateContext, *, remove_nulls: bool = False) -> Any:
    """Render a JSON structure whose strings (object keys included) are templates.

    A string that is exactly one ``{{ expression }}`` keeps the expression's type (number,
    boolean, null, list, object); any other string renders to text. The result is plain JSON
    data, ready for ``json.dumps`` — values are never glued into JSON text. With
    ``remove_nulls``, nulls (and expressions naming a missing column) are dropped, recursively.
    """
    value, _ = render_json_with_display(template, context, remove_nulls=remove_nulls)
    return value


def render_json_with_display(
    template: Any,
    context: TemplateContext,
    *,
    remove_nulls: bool = False,
    secret_outputs: set[str] | None = None,
) -> tuple[Any, Any]:
    """Like ``render_json``, and also a copy for display where every string whose template looks
    up a secret shows the template itself instead of its value. The text those templates
    produced is added to ``secret_outputs``."""
    outputs = secret_outputs if secret_outputs is not None else set()
    value, display = _render_node(template, context, remove_nulls, "body", outputs)
    if remove_nulls:
        value, display = drop_nulls(value), drop_nulls(display)
    return value, display


_DROPPED = object()


def _render_node(
    node: Any, context: TemplateContext, remove_nulls: bool, path: str, outputs: set[str]
) -> Any:
    if isinstance(node, str):
        compiled = compile_template(node)
        value = compiled.render_value(context)
        if isinstance(value, Undefined):
            if remove_nulls:
                return _DROPPED, _DROPPED
            with _template_errors():
                value._fail_with_undefined_error()
        value = _as_json(value, path)
        if compiled.uses_secrets and isinstance(value, str):
            outputs.add(value)
        return value, (node if compiled.uses_secrets else value)
    if isinstance(node, dict):
        value_obj: dict[str, Any] = {}
        display_obj: dict[str, Any] = {}
        for key, item in node.items():
            compiled_key = compile_template(key)
            rendered_key = compiled_key.render_text(context)
            value, display = _render_node(item, context, remove_nulls, f"{path}.{key}", outputs)
            if value is _DROPPED:
                continue
            value_obj[rendered_key] = value
            display_obj[key if compiled_key.uses_secrets else rendered_key] = display
        return value_obj, display_obj
    if isinstance(node, list):
        pairs = [
            _render_node(item, context, remove_nulls, f"{path}[{index}]", outputs)
            for index, item in enumerate(node)
        ]
        kept = [pair for pair in pairs if pair[0] is not _DROPPED]
        return [value for value, _ in kept], [display for _, display in kept]
    return node, node


def _as_json(value: Any, path: str) -> Any:
    """Check that a rendered value is JSON data (converting rows, tuples and ranges)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=json_default))
    except (TypeError, ValueError) as exc:
        detail = str(exc).rstrip(".")
        raise TemplateError(f"{path} cannot be sent as JSON: {detail}.") from None
