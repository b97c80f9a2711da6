"""The dependency graph of a table's computed columns, and what a change sets off.

Every computed column reads some columns (its ``dependencies``, from the syntax trees of its
templates or formula); a field column reads its source. ``ComputedGraph`` orders them so that
a column comes after everything it reads, refuses a cycle when a column is saved, and says
which columns a change reaches. ``propagate`` walks that order once for a row: formulas are
computed at once, enrichments with auto-update are queued when their inputs changed; an
enrichment's cell, once written, propagates again from its own column.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from enrich.enrichment.models import EnrichmentColumn, ResultField, TableEnrichmentSettings
from enrich.models import ColumnKind


@dataclass(frozen=True)
class Node:
    """One computed column in the graph."""

    key: str
    column_id: int
    kind: str  # a ColumnKind: enrichment, formula or result_field
    reads: frozenset[str]
    auto_update: bool = False


class CycleError(Exception):
    """Saving a column would make it read itself through other columns."""

    def __init__(self, path: list[str]) -> None:
        self.path = path
        super().__init__(" → ".join(path))


class ComputedGraph:
    """A table's computed columns in dependency order (each after everything it reads)."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = {node.key: node for node in nodes}
        self.order = self._ordered()
        #: What is read along with the graph and changes with it (the compiled formulas, the
        #: table's column keys), kept as long as the graph is.
        self.memo: dict[str, Any] = {}

    def _ordered(self) -> list[Node]:
        done: set[str] = set()
        order: list[Node] = []
        visiting: set[str] = set()

        def visit(node: Node) -> None:
            if node.key in done or node.key in visiting:
                return  # a cycle saved before cycles were refused: cut it, never loop
            visiting.add(node.key)
            for key in sorted(node.reads):
                if key in self.nodes:
                    visit(self.nodes[key])
            visiting.discard(node.key)
            done.add(node.key)
            order.append(node)

        for node in sorted(self.nodes.values(), key=lambda node: node.column_id):
            visit(node)
        return order

    def cycle_through(self, key: str, reads: Iterable[str]) -> list[str] | None:
        """The cycle ``key`` would close if it read ``reads`` (``[key, …, key]``), or None."""
        reads = set(reads)
        if key in reads:
            return [key, key]
        path: list[str] = []
        seen: set[str] = set()

        def leads_back(current: str) -> bool:
            if current == key:
                return True
            if current in seen or current not in self.nodes:
                return False
            seen.add(current)
            path.append(current)
            if any(leads_back(next_key) for next_key in sorted(self.nodes[current].reads)):
                return True
            path.pop()
            return False

        for start in sorted(reads):
            if leads_back(start):
                return [key, *path, key]
        return None

    def downstream(self, changed: Iterable[str]) -> list[Node]:
        """The computed columns a change of ``changed`` reaches, in dependency order."""
        reached = set(changed)
        found = []
        for node in self.order:
            if node.reads & reached:
                reached.add(node.key)
                found.append(node)
        return found


def graph_of(*, table_id: int) -> ComputedGraph:
    """The table's graph, read from the database (two queries)."""
    nodes = [
        Node(
            key=key,
            column_id=column_id,
            kind=kind,
            reads=frozenset(dependencies or ()),
            auto_update=auto_update,
        )
        for key, column_id, kind, dependencies, auto_update in EnrichmentColumn.objects.filter(
            column__table_id=table_id
        ).values_list("column__key", "column_id", "column__kind", "dependencies", "auto_update")
    ]
    nodes += [
        Node(key=key, column_id=column_id, kind=ColumnKind.RESULT_FIELD, reads=frozenset({source}))
        for key, column_id, source in ResultField.objects.filter(
            column__table_id=table_id
        ).values_list("column__key", "column_id", "source__column__key")
    ]
    return ComputedGraph(nodes)


_cache: dict[int, tuple[str, ComputedGraph]] = {}
_cache_lock = threading.Lock()


def graph_version(*, table_id: int) -> str:
    """The token of the table's computed columns as they are now (one small query)."""
    found = (
        TableEnrichmentSettings.objects.filter(table_id=table_id)
        .values_list("graph_version", flat=True)
        .first()
    )
    return found or ""


def cached_graph(*, table_id: int) -> ComputedGraph:
    """``graph_of``, reused by this process until the table's computed columns change: one
    query to check the version instead of several to read the graph and its formulas (every
    cell a worker writes asks what reads it)."""
    version = graph_version(table_id=table_id)
    with _cache_lock:
        found = _cache.get(table_id)
    if found is not None and found[0] == version:
        return found[1]
    graph = graph_of(table_id=table_id)
    with _cache_lock:
        _cache[table_id] = (version, graph)
    return graph


def graph_changed(*, table_id: int, create: bool = True) -> None:
    """Record that the table's computed columns changed: every process reads its graph again
    (``create``: make the table's settings row if it has none)."""
    with _cache_lock:
        _cache.pop(table_id, None)
    token = secrets.token_hex(16)
    bumped = TableEnrichmentSettings.objects.filter(table_id=table_id).update(graph_version=token)
    if not bumped and create:
        TableEnrichmentSettings.objects.update_or_create(
            table_id=table_id, defaults={"graph_version": token}
        )


def forget_graph(*, table_id: int | None = None) -> None:
    """Drop this process's cached graphs (tests whose rolled-back database reuses ids)."""
    with _cache_lock:
        if table_id is None:
            _cache.clear()
        else:
            _cache.pop(table_id, None)
