"""The kinds of computed columns, registered by type: ``http_api`` and the kinds built on it.

``kind_named(enrichment.kind)`` gives the class that checks, hashes and executes the column's
cells; importing this package registers every kind.
"""

from enrich.enrichment.kinds import formula, http_api, waterfall  # noqa: F401  (registers the kinds)
from enrich.enrichment.kinds.base import (
    Checked,
    ComputedKind,
    Estimate,
    kind_named,
    register,
    registered_kinds,
)

__all__ = [
    "Checked",
    "ComputedKind",
    "Estimate",
    "kind_named",
    "register",
    "registered_kinds",
]
