"""What every kind of computed column provides, and the registry that finds them.

In the style of Baserow's field-type registry: a kind is a class keyed by its ``type``, with
its config model, how it is checked on save (dependencies, accounts, hosts), what goes into a
cell's input hash, how one cell is executed and what a run sends. The claim, lease and guarded
write of a cell stay one generic pipeline (``enrich.enrichment.pipeline``) for every kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

if TYPE_CHECKING:
    from accounts.models import Account
    from connectors import TemplateContext
    from enrich.enrichment.columns import EnrichmentSpec
    from enrich.enrichment.models import EnrichmentColumn
    from enrich.enrichment.pipeline import Outcome
    from enrich.models import Row, Table


@dataclass
class Checked:
    """A kind's config after its checks: what is saved, and what the generic checks need."""

    config: dict[str, Any]
    #: Column keys the config reads (templates, expressions), from their syntax trees.
    dependencies: set[str] = field(default_factory=set)
    #: Where each key read in the config was typed: form field name → keys.
    keys_by_field: dict[str, set[str]] = field(default_factory=dict)
    #: The accounts whose credentials the column sends, and the endpoint each goes to.
    credentials: list[tuple[Account, str, str]] = field(default_factory=list)
    #: The column's main account (``EnrichmentColumn.account``), if the kind has one.
    account: Account | None = None


@dataclass(frozen=True)
class Estimate:
    """What one row of the column costs at most, for the confirm step of a run."""

    #: Requests a row sends when everything answers at once (0 for a formula).
    requests_per_row: int
    #: The most a row can cost when every try fails (retries, every step of a chain).
    most_per_row: int
    host: str = ""


class ComputedKind:
    """Base class of the kinds of computed columns."""

    type: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    #: Whether cells go through the workers (HTTP calls); False: computed on the server
    #: as rows change (a formula).
    sends_requests: ClassVar[bool] = True
    #: The template of the column's settings panel.
    panel_template: ClassVar[str] = "enrichment/panel.html"
    #: The table column's kind (``enrich.models.ColumnKind``) for columns of this kind.
    column_kind: ClassVar[str] = "enrichment"

    def check(self, *, table: Table, spec: EnrichmentSpec, problems: dict[str, str]) -> Checked:
        """Validate the kind's part of ``spec``; problems go into ``problems`` by field name."""
        raise NotImplementedError

    def hash_inputs(self, enrichment: EnrichmentColumn) -> dict[str, Any]:
        """What besides the cells read and the condition a result depends on."""
        return {"kind": self.type, "config": enrichment.config}

    def execute(
        self, *, enrichment: EnrichmentColumn, row: Row, context: TemplateContext
    ) -> Outcome:
        """Compute one cell (its condition already passed). Never raises for a user's
        mistake or an upstream failure: those are outcomes."""
        raise NotImplementedError

    def estimate(self, enrichment: EnrichmentColumn) -> Estimate:
        """Requests per row, for the confirm step of a run."""
        return Estimate(requests_per_row=0, most_per_row=0)

    def accounts(self, config: Mapping[str, Any]) -> list[int]:
        """The ids of the accounts ``config`` sends credentials with."""
        return []


def record_problems(
    exc: ValidationError, problems: dict[str, str], *, prefix: str = "", default: str
) -> None:
    """Each of a config model's validation errors under the field it concerns (its dotted
    location after ``prefix``; ``default`` for the model as a whole), in plain words."""
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or default
        problems.setdefault(prefix + name, error["msg"].removeprefix("Value error, "))


_KINDS: dict[str, ComputedKind] = {}


def register(kind_class: type[ComputedKind]) -> type[ComputedKind]:
    """Class decorator: make a kind available under its ``type``."""
    _KINDS[kind_class.type] = kind_class()
    return kind_class


def kind_named(name: str) -> ComputedKind:
    """The registered kind called ``name``; ``KeyError`` for an unknown one."""
    return _KINDS[name]


def registered_kinds() -> list[ComputedKind]:
    return list(_KINDS.values())
