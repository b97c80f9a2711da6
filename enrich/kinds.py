"""Column kinds: how a value is parsed from text, stored, shown and exported.

Kinds are registered classes keyed by their ``ColumnKind`` value, so adding one (the next
issue's enrichment kind) is adding a class here, not editing ``if`` chains across the app.
Every kind turns user text into a JSON-ready value (``parse``) and back (``to_text``), and
``parse(to_text(v)) == v`` holds for every value a kind produces: that is what makes CSV
round trips and type changes lossless.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any, ClassVar, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from enrich.exceptions import InvalidValue
from enrich.models import ColumnKind

NUMBER_PATTERN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off", "f"})


class Kind:
    """Text in, JSON value out. The base is the text kind: every string is valid as it is."""

    type: ClassVar[str] = ColumnKind.TEXT
    css_class: ClassVar[str] = "cell--text"
    empty: ClassVar[Any] = None
    #: Filled by the app rather than typed (the grid opens a panel instead of an editor).
    computed: ClassVar[bool] = False
    #: A computed kind whose value the row stores (sortable and searchable like typed ones).
    stored_in_row: ClassVar[bool] = False

    def parse(self, raw: str) -> Any:
        """The stored value for ``raw``; raises ``InvalidValue`` with a message for the cell.
        Text of spaces only is blank, as in every other kind."""
        return raw if raw.strip() else None

    def to_text(self, value: Any) -> str:
        """The value as a user types it (editor, CSV export); ``parse`` reads it back."""
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return NumberKind.format(value)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def fits(self, value: Any) -> bool:
        """Whether a stored value has this kind's shape (imports and type changes keep values
        that did not convert as they were; the grid marks them)."""
        return value is None or isinstance(value, str)

    def link(self, value: Any) -> str:
        """Where the grid links the value to, or "" for plain text. Only a value this kind
        accepts is ever a link: an imported ``javascript:…`` in a URL column stays text."""
        return ""


class TextKind(Kind):
    pass


class NumberKind(Kind):
    type = ColumnKind.NUMBER
    css_class = "cell--number"

    @staticmethod
    def format(value: int | float) -> str:
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value) if isinstance(value, float) else str(value)

    def parse(self, raw: str) -> Any:
        text = raw.strip().replace("_", "")
        if not text:
            return None
        if not NUMBER_PATTERN.fullmatch(text):
            raise InvalidValue(f"“{_short(raw)}” is not a number (use digits and a dot: 1234.5).")
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        number = float(text)
        if not math.isfinite(number):
            raise InvalidValue(f"“{_short(raw)}” is too large a number.")
        return int(number) if number.is_integer() and abs(number) < 1e16 else number

    def fits(self, value: Any) -> bool:
        return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


class BooleanKind(Kind):
    type = ColumnKind.BOOLEAN
    css_class = "cell--boolean"

    def parse(self, raw: str) -> Any:
        word = raw.strip().lower()
        if not word:
            return None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise InvalidValue(f"“{_short(raw)}” is not yes or no (true/false, yes/no, 1/0).")

    def fits(self, value: Any) -> bool:
        return value is None or isinstance(value, bool)


class TextValidator(Protocol):
    """A Django validator instance: called with the value, raises ``ValidationError``."""

    def __call__(self, value: str, /) -> None: ...


class ValidatedTextKind(Kind):
    """Text that a Django validator must accept, stored as typed (trimmed)."""

    # A callable object, not a function: a Callable here would read to mypy as a method
    # bound to the kind.
    validator: ClassVar[TextValidator]
    refusal: ClassVar[str]  # "“{value}” is not …"

    def parse(self, raw: str) -> Any:
        text = raw.strip()
        if not text:
            return None
        try:
            self.validator(text)
        except ValidationError:
            raise InvalidValue(self.refusal.format(value=_short(raw))) from None
        return text

    def fits(self, value: Any) -> bool:
        if value is None:
            return True
        if not isinstance(value, str):
            return False
        try:
            self.validator(value)
        except ValidationError:
            return False
        return True


class UrlKind(ValidatedTextKind):
    type = ColumnKind.URL
    css_class = "cell--url"
    validator = URLValidator(schemes=["http", "https"])
    refusal = "“{value}” is not a web address (https://…)."

    def link(self, value: Any) -> str:
        # The validator allows http and https only, with no whitespace a browser would strip.
        return value if value and self.fits(value) else ""


class EmailKind(ValidatedTextKind):
    type = ColumnKind.EMAIL
    css_class = "cell--email"
    validator = EmailValidator()
    refusal = "“{value}” is not an email address."

    def link(self, value: Any) -> str:
        return f"mailto:{value}" if value and self.fits(value) else ""


class DateKind(Kind):
    type = ColumnKind.DATE
    css_class = "cell--date"

    def parse(self, raw: str) -> Any:
        text = raw.strip()
        if not text:
            return None
        try:
            # A time part is accepted and dropped: the kind is a calendar date.
            return datetime.date.fromisoformat(text[:10].replace("/", "-")).isoformat()
        except ValueError:
            raise InvalidValue(f"“{_short(raw)}” is not a date like 2025-01-31.") from None

    def fits(self, value: Any) -> bool:
        if value is None:
            return True
        try:
            datetime.date.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return len(value) == 10


class JsonKind(Kind):
    type = ColumnKind.JSON
    css_class = "cell--json"

    def parse(self, raw: str) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            raise InvalidValue(f"Not valid JSON ({error.msg}, column {error.colno}).") from None
        except ValueError:  # e.g. a number of more digits than Python converts
            raise InvalidValue("Not valid JSON: a number in it is too long to read.") from None

    def to_text(self, value: Any) -> str:
        if value is None:
            return ""
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def fits(self, value: Any) -> bool:
        return True


class ComputedKind(JsonKind):
    """A column the app fills (an enrichment, a field of its results): shown, never typed."""

    computed: ClassVar[bool] = True

    def parse(self, raw: str) -> Any:
        raise InvalidValue("This column is filled by its enrichment; run it instead of typing.")

    def to_text(self, value: Any) -> str:
        # Never read back, so a text answer is shown (and exported) as the text itself.
        return value if isinstance(value, str) else super().to_text(value)


class EnrichmentKind(ComputedKind):
    type = ColumnKind.ENRICHMENT
    css_class = "cell--enrichment"


class ResultFieldKind(ComputedKind):
    type = ColumnKind.RESULT_FIELD
    css_class = "cell--result-field"


class FormulaKind(ComputedKind):
    """A formula's value is stored in the row like a typed value, so it sorts, searches and
    exports as one; it is shown as the kind of its output (``ComputedCell.shown_as``)."""

    type = ColumnKind.FORMULA
    css_class = "cell--formula"
    #: Stored in ``Row.values`` (sorting and searching read it there).
    stored_in_row: ClassVar[bool] = True


KINDS: dict[str, Kind] = {
    kind.type: kind
    for kind in (
        TextKind(),
        NumberKind(),
        BooleanKind(),
        UrlKind(),
        EmailKind(),
        DateKind(),
        JsonKind(),
        EnrichmentKind(),
        ResultFieldKind(),
        FormulaKind(),
    )
}

#: The kinds the app fills (enrichments, their fields, formulas): shown, never typed.
COMPUTED_KINDS = frozenset(name for name, kind in KINDS.items() if kind.computed)
#: The kinds a user can give a column or change it to, as form choices.
TYPED_KINDS = [(value, label) for value, label in ColumnKind.choices if value not in COMPUTED_KINDS]


def kind_for(type_: str) -> Kind:
    """The registered kind for a column's ``kind`` value."""
    return KINDS[type_]


def _short(raw: str, limit: int = 40) -> str:
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"
