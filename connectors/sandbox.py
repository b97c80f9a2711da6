"""The one Jinja2 environment for everything users write, with bounded time and memory.

Jinja's ``ImmutableSandboxedEnvironment`` stops attribute tricks (``__class__``, ``mro``,
``__globals__``) but not resource exhaustion: ``range(10**9)``, ``'a' * 10**10``, ``9**9**9`` or a
loop that doubles a string run until the worker dies. This environment adds a per-render budget
and checks every operation that can grow a value *before* it runs:

- every loop iteration and every call costs a step (``MAX_STEPS`` per render), and one render
  has ``MAX_RENDER_SECONDS`` of wall time;
- text emitted or built by ``~``/``+``/``*``/``replace``/``join`` is counted
  (``MAX_RENDER_CHARS`` per render), one string, bytes or list never exceeds
  ``MAX_STRING_LENGTH`` / ``MAX_SEQUENCE_LENGTH``, integers stay under ``MAX_INT_BITS``:
  methods and filters whose result can be many times their input (``translate``, ``replace``,
  ``join``, ``center``, ``split``…) are checked before they allocate, and the result of every
  call and filter is checked after (the growth of one such step is bounded by a small factor);
- ``%``-formatting and ``str.format`` are refused (format widths allocate before any check);
- ``include``/``import``/``extends`` are refused: there is nothing to load.

The loop and output counting is done by rewriting the parsed template (``_Hardener``) so that
loop iterables and outputs pass through counting filters; no tracing and no threads.
"""

from __future__ import annotations

import functools
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import BuiltinMethodType, FunctionType
from typing import Any, AnyStr

from jinja2 import StrictUndefined, nodes, pass_context, pass_environment
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from connectors.template_values import RowView, base64_decode, base64_encode, to_text, tojson
from connectors.url_parts import URL_FILTERS

MAX_TEMPLATE_LENGTH = 100_000
MAX_STEPS = 10_000
MAX_RENDER_CHARS = 2_000_000
MAX_STRING_LENGTH = 1_000_000
MAX_SEQUENCE_LENGTH = 100_000
MAX_RANGE = 10_000
MAX_INT_BITS = 4_096
MAX_RENDER_SECONDS = 1.0

#: Jinja filters kept as they are: none of them can make a value much larger than its input.
_KEPT_FILTERS = (
    *("abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape"),
    *("filesizeformat", "first", "float", "forceescape", "groupby", "int", "items", "last"),
    *("length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse"),
    *("round", "safe", "select", "selectattr", "sort", "string", "striptags", "title"),
    *("trim", "truncate", "unique", "upper", "urlencode", "wordcount"),
)

_SIZED_STR_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


class SandboxLimitError(SecurityError):
    """A template went over one of the sandbox's time or size limits."""


def configure_limits(
    *, max_text_chars: int | None = None, max_render_seconds: float | None = None
) -> None:
    """Set the size of the largest value (text, bytes: characters; lists: a tenth as many
    items) and the wall time of one render, for every template from now on."""
    global MAX_STRING_LENGTH, MAX_SEQUENCE_LENGTH, MAX_RENDER_CHARS, MAX_RENDER_SECONDS
    if max_text_chars is not None:
        MAX_STRING_LENGTH = max(1_000, int(max_text_chars))
        MAX_SEQUENCE_LENGTH = max(100, MAX_STRING_LENGTH // 10)
        MAX_RENDER_CHARS = 2 * MAX_STRING_LENGTH
    if max_render_seconds is not None:
        MAX_RENDER_SECONDS = max(0.01, float(max_render_seconds))


class RenderBudget:
    """What one render (or one whole request's renders) may still spend."""

    __slots__ = ("chars", "deadline", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.chars = 0
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS

    def step(self, count: int = 1) -> None:
        """Spend loop iterations or calls; raise once ``MAX_STEPS`` or the time is used up."""
        self.steps += count
        if self.steps > MAX_STEPS:
            raise SandboxLimitError(
                f"the template ran more than {MAX_STEPS:,} loop iterations and calls"
            )
        if time.monotonic() > self.deadline:
            raise SandboxLimitError(f"the template ran longer than {MAX_RENDER_SECONDS:g} s")

    def spend_chars(self, count: int) -> None:
        """Spend characters of output or of built strings; raise past ``MAX_RENDER_CHARS``."""
        self.chars += count
        if self.chars > MAX_RENDER_CHARS:
            raise SandboxLimitError(
                f"the template produced more than {MAX_RENDER_CHARS:,} characters"
            )


_current_budget: ContextVar[RenderBudget | None] = ContextVar("render_budget", default=None)


@contextmanager
def render_budget() -> Iterator[RenderBudget]:
    """Open a budget for the renders inside the block; nested blocks share the outer one."""
    budget = _current_budget.get()
    if budget is not None:
        yield budget
        return
    budget = RenderBudget()
    token = _current_budget.set(budget)
    try:
        yield budget
    finally:
        _current_budget.reset(token)


def open_budget() -> Token[RenderBudget | None] | None:
    """Open a budget unless one is open; pass the result to ``close_budget``."""
    if _current_budget.get() is not None:
        return None
    return _current_budget.set(RenderBudget())


def close_budget(token: Token[RenderBudget | None] | None) -> None:
    """Close what ``open_budget`` opened."""
    if token is not None:
        _current_budget.reset(token)


def _budget() -> RenderBudget:
    # Outside render_budget() (direct use of the environment) limits still apply per operation.
    return _current_budget.get() or RenderBudget()


def _check_length(value: Any) -> None:
    if isinstance(value, str | bytes | bytearray) and len(value) > MAX_STRING_LENGTH:
        raise SandboxLimitError(f"a text value would exceed {MAX_STRING_LENGTH:,} characters")
    if isinstance(value, list | tuple | dict | set | frozenset) and (
        len(value) > MAX_SEQUENCE_LENGTH
    ):
        raise SandboxLimitError(f"a list would exceed {MAX_SEQUENCE_LENGTH:,} items")


def _checked_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose result is checked like every other value (``jinja_pass_arg`` is kept
    by ``functools.wraps``, so context-taking filters still get their context)."""

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        _budget().step()
        result = function(*args, **kwargs)
        _check_length(result)
        return result

    return checked


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
        limit = MAX_STRING_LENGTH if isinstance(sequence, str | bytes) else MAX_SEQUENCE_LENGTH
        if len(sequence) * max(times, 0) > limit:
            raise SandboxLimitError(f"repeating this value would exceed {limit:,} items")


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _check_multiply(left: Any, right: Any) -> None:
    _check_repeat(left, right)
    _check_repeat(right, left)
    both_int = isinstance(left, int) and isinstance(right, int)
    if both_int and _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
        raise SandboxLimitError(f"a number would exceed {MAX_INT_BITS} bits")


def _check_power(base: Any, exponent: Any) -> None:
    grows = isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
    if grows and exponent * _int_bits(base) > MAX_INT_BITS:
        raise SandboxLimitError(f"a number would exceed {MAX_INT_BITS} bits")


def bounded_range(*args: int) -> range:
    """``range`` for templates, limited to ``MAX_RANGE`` items."""
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise SandboxLimitError(f"range() is limited to {MAX_RANGE:,} items")
    return values


@pass_context
def _counted_loop(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.step()
        yield item


@pass_context
def _emitted(context: Context, value: Any) -> str:
    text = to_text(value)
    _budget().spend_chars(len(text))
    return text


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda item, container: item in container,
    "notin": lambda item, container: item not in container,
}
_SYMBOLS = {"eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=", "in": "in"}


def _compared(parts: list[Any]) -> bool:
    """A comparison chain (``a < b <= c``) where a blank is never greater, smaller or a
    container: ``row.employees > 100`` is false for a blank cell, not an error, and ``x in
    row.tags`` false when the cell is blank. Text and numbers that cannot be ordered say so."""
    for index in range(0, len(parts) - 2, 2):
        left, name, right = parts[index], parts[index + 1], parts[index + 2]
        if name in {"eq", "ne"}:
            result = _COMPARISONS[name](left, right)
        elif right is None and name in {"in", "notin"}:
            result = name == "notin"
        elif left is None or right is None:
            result = False
        else:
            left, right = _numeric_pair(left, right)
            try:
                result = _COMPARISONS[name](left, right)
            except TypeError:
                raise TypeError(
                    f"cannot compare {_kind(left)} with {_kind(right)} using "
                    f"{_SYMBOLS.get(name, name)}"
                ) from None
        if not result:
            return False
    return True


def _numeric_pair(left: Any, right: Any) -> tuple[Any, Any]:
    """A number compared with text that reads as a number (a CSV cell: "1,200") compares as
    two numbers."""
    if _is_number(left) and isinstance(right, str):
        return left, _as_number(right, right)
    if isinstance(left, str) and _is_number(right):
        return _as_number(left, left), right
    return left, right


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(text: str, fallback: Any) -> Any:
    try:
        return float(text.strip().replace(",", "").replace("_", ""))
    except ValueError:
        return fallback


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@pass_context
def _built_text(context: Context, parts: list[Any]) -> str:
    texts = [to_text(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_STRING_LENGTH:
        raise SandboxLimitError(f"a text value would exceed {MAX_STRING_LENGTH:,} characters")
    value = "".join(texts)
    _budget().spend_chars(len(value))
    return value


def _replace(value: Any, old: Any, new: Any, count: int | None = None) -> Any:
    if isinstance(value, bytes) and isinstance(old, bytes) and isinstance(new, bytes):
        text: Any = value
    else:
        text, old, new = to_text(value), str(old), str(new)
    occurrences = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    size = len(text) + occurrences * (len(new) - len(old))
    if size > MAX_STRING_LENGTH:
        raise SandboxLimitError(f"replace() would exceed {MAX_STRING_LENGTH:,} characters")
    _budget().spend_chars(size)
    return text.replace(old, new, -1 if count is None else count)


def _join_checked(separator: AnyStr, items: list[AnyStr]) -> AnyStr:
    size = sum(map(len, items)) + len(separator) * max(len(items) - 1, 0)
    if size > MAX_STRING_LENGTH:
        raise SandboxLimitError(f"join() would exceed {MAX_STRING_LENGTH:,} characters")
    _budget().spend_chars(size)
    return separator.join(items)


@pass_environment
def _join(
    environment: Environment, value: Iterable[Any], d: str = "", attribute: str | None = None
) -> str:
    if attribute is not None:
        value = (environment.getattr(item, attribute) for item in value)
    return _join_checked(str(d), [to_text(item) for item in value])


def _check_translate(text: str, table: Any) -> None:
    """``str.translate`` may map each character to a long text: bound the result first."""
    longest = 1
    if isinstance(table, dict):
        longest = max((len(value) for value in table.values() if isinstance(value, str)), default=1)
    if len(text) * longest > MAX_STRING_LENGTH:
        raise SandboxLimitError(f"translate() would exceed {MAX_STRING_LENGTH:,} characters")


_WORDS = re.compile(r"\S+")
_WORDS_BYTES = re.compile(rb"\S+")
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_LINE_BREAKS_BYTES = re.compile(rb"\r\n|[\n\r]")


def _count_matches(
    text: str | bytes, pattern: re.Pattern[str], bytes_pattern: re.Pattern[bytes]
) -> int:
    if isinstance(text, str):
        return sum(1 for _ in pattern.finditer(text))
    return sum(1 for _ in bytes_pattern.finditer(text))


def _check_split(
    text: str | bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """``split`` can make one item per character: count the pieces before making them."""
    separator = args[0] if args else kwargs.get("sep")
    limit = args[1] if len(args) > 1 else kwargs.get("maxsplit", -1)
    if isinstance(limit, int) and 0 <= limit < MAX_SEQUENCE_LENGTH:
        return
    if name == "splitlines":
        pieces = _count_matches(text, _LINE_BREAKS, _LINE_BREAKS_BYTES) + 1
    elif separator is None:
        pieces = _count_matches(text, _WORDS, _WORDS_BYTES)
    # One arm per type, not one `or`: each arm narrows text and separator to the same type.
    elif isinstance(text, str) and isinstance(separator, str) and separator:  # noqa: SIM114
        pieces = text.count(separator) + 1
    elif isinstance(text, bytes) and isinstance(separator, bytes) and separator:
        pieces = text.count(separator) + 1
    else:
        return  # the method itself refuses an empty or mistyped separator
    if pieces > MAX_SEQUENCE_LENGTH:
        raise SandboxLimitError(f"{name}() would make more than {MAX_SEQUENCE_LENGTH:,} items")


def _sum(value: Iterable[Any], attribute: str | None = None, start: int | float = 0) -> Any:
    total = start
    for item in value:
        number = item[attribute] if attribute is not None else item
        # Summing lists or strings is quadratic; numbers are all a template needs to add up.
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise SandboxLimitError("sum() adds numbers only")
        _check_multiply(number, 1)
        total += number
    return total


def _tojson(value: Any, indent: int | None = None) -> str:
    text = tojson(value, indent)
    _check_length(text)
    return text


class _Hardener(NodeTransformer):
    """Rewrite a parsed template so loops, outputs and ``~`` go through the budget filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_counted_loop", [], [], None, None)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            nodes.Filter(
                nodes.Const(child.data) if isinstance(child, nodes.TemplateData) else child,
                "_emitted",
                [],
                [],
                None,
                None,
                lineno=child.lineno,
            )
            for child in node.nodes
        ]
        return node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        # Comparisons read blanks as a spreadsheet does (see ``_compared``).
        self.generic_visit(node)
        parts: list[nodes.Expr] = [node.expr]
        for operand in node.ops:
            parts += [nodes.Const(operand.op), operand.expr]
        return nodes.Filter(
            nodes.List(parts, lineno=node.lineno),
            "_compared",
            [],
            [],
            None,
            None,
            lineno=node.lineno,
        )

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        # ``a ~ b`` joins the parts as they read inside text (a blank is empty, not "None").
        self.generic_visit(node)
        parts = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(parts, "_built_text", [], [], None, None, lineno=node.lineno)


def _refuse_loading(tree: nodes.Template) -> None:
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        raise TemplateSyntaxError(
            "include, import and extends are not available in these templates", node.lineno
        )


class BoundedSandboxEnvironment(ImmutableSandboxedEnvironment):
    """An immutable sandbox with strict undefined values and bounded render time and size."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "-", "/", "//"})
    #: Functions installed as globals that are safe by construction (see ``call``).
    trusted_functions: frozenset[Any] = frozenset()
    intercepted_unops = frozenset({"-", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        user_filters = {name: FILTERS[name] for name in _KEPT_FILTERS}
        user_filters.update(
            {
                "replace": _replace,
                "join": _join,
                "sum": _sum,
                "tojson": _tojson,
                "base64_encode": base64_encode,
                "base64_decode": base64_decode,
            }
        )
        self.filters = {name: _checked_filter(f) for name, f in user_filters.items()}
        self.filters.update(
            {
                "_counted_loop": _counted_loop,
                "_emitted": _emitted,
                "_built_text": _built_text,
                "_compared": _compared,
            }
        )
        # Endpoint URLs: each expression encoded for its part of the URL, |raw_path to opt out.
        self.filters.update(URL_FILTERS)
        self.globals = {
            "range": bounded_range,
            "dict": dict,
            "namespace": Namespace,
            "tojson": _tojson,
            "base64_encode": base64_encode,
            "base64_decode": base64_decode,
        }

    def parse_checked(self, source: str) -> nodes.Template:
        """Parse ``source``, refusing over-long templates and loading tags."""
        if len(source) > MAX_TEMPLATE_LENGTH:
            raise TemplateSyntaxError(
                f"the template is longer than {MAX_TEMPLATE_LENGTH:,} characters", 1
            )
        tree = self.parse(source)
        _refuse_loading(tree)
        return tree

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        # Every compile path (templates and expressions) passes here with a parsed tree.
        _refuse_loading(source)
        _Hardener().visit(source)
        return super()._generate(source, name, filename, defer_init=defer_init)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Read ``row.key`` as the cell; anything else as the sandbox does."""
        if isinstance(obj, RowView):
            return self._cell(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Read ``row['key']`` as the cell; anything else as the sandbox does."""
        if isinstance(obj, RowView) and isinstance(argument, str):
            return self._cell(obj, argument)
        return super().getitem(obj, argument)

    def _cell(self, row: RowView, key: str) -> Any:
        try:
            return row[key]
        except KeyError:
            return self.undefined(hint=f"the row has no column {key!r}", obj=row, name=key)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Check sizes before ``*`` and ``**``; refuse ``%`` formatting; bound ``+``. A blank
        operand gives a blank, as in a spreadsheet's empty cell: ``row.a + 1`` is blank where
        ``a`` is."""
        if left is None or right is None:
            return None
        if operator == "*":
            _check_multiply(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str | bytes):
            raise SandboxLimitError("%-formatting is not available; join text with ~")
        result = self.binop_table[operator](left, right)
        if operator in ("+", "*"):
            _check_length(result)
            if isinstance(result, str):
                _budget().spend_chars(len(result))
        return result

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        """``-row.a`` of a blank is blank."""
        return None if arg is None else self.unop_table[operator](arg)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Count the call, check string methods that can allocate huge results before they
        run, and every call's result after."""
        _budget().step()
        if obj.__class__ is FunctionType and obj in self.trusted_functions:
            # The function library (``connectors.functions``): plain functions that check their
            # own sizes and take no context, called without the sandbox's generic checks.
            result = obj(*args, **kwargs)
            _check_length(result)
            return result
        if isinstance(obj, BuiltinMethodType) and isinstance(obj.__self__, str | bytes):
            guarded = self._guarded_string_method(obj, args, kwargs)
            if guarded is not None:
                return guarded()
        result = super().call(context, obj, *args, **kwargs)
        _check_length(result)
        return result

    def _guarded_string_method(
        self, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Callable[[], Any] | None:
        owner, name = method.__self__, method.__name__
        if name in _SIZED_STR_METHODS and args and isinstance(args[0], int):
            if args[0] > MAX_STRING_LENGTH:
                raise SandboxLimitError(f"{name}() width is limited to {MAX_STRING_LENGTH:,}")
        elif name == "expandtabs":
            tab_size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(tab_size, int) and tab_size * owner.count("\t") > MAX_STRING_LENGTH:
                raise SandboxLimitError("expandtabs() would produce too long a text")
        elif name == "replace" and len(args) >= 2:
            return lambda: _replace(owner, *args, **kwargs)
        elif name == "join" and len(args) == 1:
            items = list(args[0])
            if not all(isinstance(item, type(owner)) for item in items):
                raise TypeError("join() takes items of the same kind as its separator")
            return lambda: _join_checked(owner, items)
        elif name == "translate" and isinstance(owner, str) and args:
            _check_translate(owner, args[0])
        elif name in {"split", "rsplit", "splitlines"}:
            _check_split(owner, name, args, kwargs)
        return None

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Refuse ``str.format``/``format_map``: a format width allocates before any check."""
        if getattr(value, "__name__", None) in ("format", "format_map") and isinstance(
            getattr(value, "__self__", None), str
        ):

            def refused(*args: Any, **kwargs: Any) -> str:
                raise SandboxLimitError("str.format is not available; join text with ~")

            return refused
        return None
