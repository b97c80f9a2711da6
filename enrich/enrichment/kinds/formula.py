"""``formula``: an expression over the row, computed on the server as rows change.

The formula language is the one of "only run if" and the request templates (one parser, one
evaluator, one function library: ``connectors.functions``). A formula sends no request, so its
cells never go through the workers: they are computed when rows are added or imported, when a
cell they read changes (``enrich.enrichment.formulas``), and when the formula is saved. The
value is stored in the row like a typed value, so it sorts, searches, exports and feeds
templates as one; a cell whose formula fails keeps no value and records its error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors import TemplateError
from connectors.functions import to_number
from connectors.sandbox import MAX_STRING_LENGTH
from connectors.template_values import RowView, json_default, to_text
from connectors.templating import Formula, compile_formula
from enrich.enrichment.kinds.base import (
    Checked,
    ComputedKind,
    Estimate,
    record_problems,
    register,
)
from enrich.kinds import InvalidValue, kind_for
from enrich.models import ColumnKind

if TYPE_CHECKING:
    from connectors import TemplateContext
    from enrich.enrichment.columns import EnrichmentSpec
    from enrich.enrichment.models import EnrichmentColumn
    from enrich.enrichment.pipeline import Outcome
    from enrich.models import Row, Table

Output = Literal["auto", "text", "number", "boolean", "date", "json"]
#: How a formula's output shows in the grid and the export: as the typed kind of that name.
SHOWN_AS: dict[str, str] = {
    "auto": "",
    "text": ColumnKind.TEXT,
    "number": ColumnKind.NUMBER,
    "boolean": ColumnKind.BOOLEAN,
    "date": ColumnKind.DATE,
    "json": ColumnKind.JSON,
}


class FormulaConfig(BaseModel):
    """A formula column's settings."""

    model_config = ConfigDict(extra="forbid")

    expression: str = Field(
        max_length=10_000, description="The expression, e.g. domain(row.email)."
    )
    output: Output = Field(
        default="auto",
        description="The type of the value: auto keeps what the expression gives; number, "
        "date… convert it, and a value that does not convert is the cell's error.",
    )


def typed(value: Any, output: str) -> Any:
    """``value`` as the formula's ``output`` type, as it is stored; blank text is None.
    Raises ``TemplateError`` when it does not convert."""
    if isinstance(value, str) and not value.strip():
        return None
    if value is None:
        return None
    if isinstance(value, RowView | tuple | set | frozenset | range):
        value = json_default(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise TemplateError("The result is not a finite number.")
    if output == "text":
        if isinstance(value, str):
            return value
        return _json_text(value) if isinstance(value, list | dict) else to_text(value)
    if output == "number":
        number = to_number(value) if not isinstance(value, list | dict) else None
        if number is None:
            raise TemplateError(f"The result {_shown(value)} is not a number.")
        return number
    if output == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return value != 0
        return _parsed(ColumnKind.BOOLEAN, value)
    if output == "date":
        return _parsed(ColumnKind.DATE, value)
    return value


def stored(value: Any) -> Any:
    """Refuse a value the row cannot store: not JSON, or larger than the size limit."""
    if isinstance(value, str):  # the common case, checked without encoding it
        if len(value) > MAX_STRING_LENGTH:
            raise TemplateError(f"The result is larger than {MAX_STRING_LENGTH:,} characters.")
        return value
    if value is None or isinstance(value, bool | int):
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=json_default)
    except (TypeError, ValueError):
        raise TemplateError(f"The result {_shown(value)} cannot be stored as a value.") from None
    if len(text) > MAX_STRING_LENGTH:
        raise TemplateError(f"The result is larger than {MAX_STRING_LENGTH:,} characters.")
    return json.loads(text) if isinstance(value, list | dict) else value


def _parsed(kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        raise TemplateError(f"The result {_shown(value)} is not a {kind_label(kind)}.")
    try:
        return kind_for(kind).parse(value)
    except InvalidValue as error:
        raise TemplateError(str(error)) from None


def kind_label(kind: str) -> str:
    return ColumnKind(kind).label.lower()


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else _json_text(value)
    return f"“{text}”" if len(text) <= 40 else f"({len(text):,} characters)"


def evaluate(formula: Formula, output: str, row: RowView) -> Any:
    """The formula's stored value for ``row``; raises ``TemplateError`` with the cell's error."""
    return stored(typed(formula.evaluate(row), output))


@register
class FormulaColumnKind(ComputedKind):
    type = "formula"
    label = "Formula"
    description = "An expression over the row, computed as the row changes: no request is sent."
    sends_requests = False
    column_kind = ColumnKind.FORMULA
    panel_template = "enrichment/formula_panel.html"

    def config(self, enrichment: EnrichmentColumn) -> FormulaConfig:
        return FormulaConfig.model_validate(enrichment.config)

    def check(self, *, table: Table, spec: EnrichmentSpec, problems: dict[str, str]) -> Checked:
        try:
            config = FormulaConfig.model_validate(dict(spec.config))
        except ValidationError as exc:
            record_problems(exc, problems, default="expression")
            return Checked(config=dict(spec.config))
        try:
            formula = compile_formula(config.expression.strip())
        except TemplateError as exc:
            problems["expression"] = exc.message
            return Checked(config=config.model_dump())
        keys = set(formula.keys)
        return Checked(
            config={"expression": config.expression.strip(), "output": config.output},
            dependencies=keys,
            keys_by_field={"expression": keys},
        )

    def hash_inputs(self, enrichment: EnrichmentColumn) -> dict[str, Any]:
        return {"kind": self.type, "config": enrichment.config}

    def execute(
        self, *, enrichment: EnrichmentColumn, row: Row, context: TemplateContext
    ) -> Outcome:
        from enrich.enrichment.models import CellResult
        from enrich.enrichment.pipeline import Outcome

        config = self.config(enrichment)
        try:
            value = evaluate(compile_formula(config.expression), config.output, context.row)
        except TemplateError as exc:
            return Outcome(status=CellResult.Status.ERROR, error=exc.message, error_code=exc.code)
        return Outcome(status=CellResult.Status.DONE, value=value)

    def estimate(self, enrichment: EnrichmentColumn) -> Estimate:
        return Estimate(requests_per_row=0, most_per_row=0)

    def accounts(self, config: Mapping[str, Any]) -> list[int]:
        return []
