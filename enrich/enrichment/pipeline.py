"""The life of one enrichment cell, top to bottom.

    claim the cell for its run  →  "only run if"  →  render + send through the account's auth
    →  filter  →  one guarded write of value, status, error, attempts and input hash

A cell is claimed with a fresh token; only the holder of the latest claim may write, and only
while the cell still belongs to the same run. So a late duplicate delivery, a cell picked up
again after its worker died, or a cancelled run can never overwrite a newer result, and each
execution writes at most once.

A claim is a short lease that the worker's heartbeat renews for every cell it holds (one UPDATE
per worker, ``renew_leases``), so a slow call keeps its cell and a dead worker's cells run out
within ``ENRICH_CELL_LEASE_S``. A cell whose execution raises is written as an error at once;
the write that leaves a run with nothing to do ends the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from accounts import connections
from connectors import TemplateContext, TemplateError, evaluate_expression
from connectors.templating import CONDITION_SECRET_MESSAGE
from enrich.enrichment.grid import computed_row_values
from enrich.enrichment.kinds import kind_named
from enrich.enrichment.models import CellResult, EnrichmentColumn, Run
from enrich.models import Row

logger = logging.getLogger(__name__)

#: A worker that took a cell this many times without finishing is not going to.
MAX_DELIVERIES = 5
SKIPPED_MESSAGE = "Run condition not met."


@dataclass
class Outcome:
    """What executing a cell produced, before it is written (or shown, for a test run)."""

    status: str
    value: Any = None
    error: str = ""
    error_code: str = ""
    http_status: int | None = None
    requests: int = 0
    elapsed_ms: int | None = None
    debug: dict[str, Any] | None = None
    skipped_reason: str = ""
    #: What the kind adds (``CellResult.details``): a waterfall's steps.
    details: dict[str, Any] | None = None


def lease() -> timedelta:
    """How long a worker owns a running cell before it may be picked up again."""
    return timedelta(seconds=settings.ENRICH_CELL_LEASE_S)


def template_context(*, enrichment: EnrichmentColumn, row: Row) -> TemplateContext:
    """What the column's templates see: the row, the workspace's secrets, a few basics.

    Every column of the table is in ``row``: a blank cell (no key in ``Row.values``) reads as
    None, so ``only run if: row.email`` skips a row without an email instead of failing.
    """
    table = enrichment.column.table
    account = enrichment.account
    values = row.values
    if set(enrichment.dependencies) - set(values):
        # The templates read another enrichment column (or a field of one): its results.
        values = {**values, **computed_values(row=row, keys=set(enrichment.dependencies))}
    return TemplateContext(
        row=values,
        columns=table.column_keys,
        secrets=connections.secret_lookup(workspace=table.workspace),
        workspace={"id": table.workspace_id, "name": table.workspace.name},
        account={"name": account.name, "type": account.auth_type} if account else {},
    )


def computed_values(*, row: Row, keys: set[str]) -> dict[str, Any]:
    """The finished values of ``row``'s computed columns among ``keys``, by column key: an
    enrichment column's result, or the field of one that a "+ column" column shows."""
    return computed_row_values(row=row, keys=keys)


def input_hash(*, enrichment: EnrichmentColumn, row: Row) -> str:
    """A hash of everything the cell's value depends on: the cells its templates read, the
    condition and what the kind says its result depends on (its request and account for an
    HTTP column), so editing any of them counts as a change."""
    values = row.values
    if set(enrichment.dependencies) - set(values):
        values = {**values, **computed_values(row=row, keys=set(enrichment.dependencies))}
    inputs = {
        "cells": {key: values.get(key) for key in sorted(enrichment.dependencies)},
        "only_run_if": enrichment.only_run_if,
        **kind_named(enrichment.kind).hash_inputs(enrichment),
    }
    encoded = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def execute(*, enrichment: EnrichmentColumn, row: Row) -> Outcome:
    """Evaluate the condition, then let the column's kind compute the cell for ``row``.
    Writes nothing: the pipeline writes the outcome, "Test on a row" only shows it."""
    context = template_context(enrichment=enrichment, row=row)
    if enrichment.only_run_if.strip():
        try:
            wanted = evaluate_expression(
                enrichment.only_run_if, context.without_secrets(CONDITION_SECRET_MESSAGE)
            )
        except TemplateError as exc:
            return Outcome(
                status=CellResult.Status.ERROR,
                error=f"Only run if: {exc.message}",
                error_code=exc.code,
            )
        if not wanted:
            return Outcome(status=CellResult.Status.SKIPPED, skipped_reason=SKIPPED_MESSAGE)
    return kind_named(enrichment.kind).execute(enrichment=enrichment, row=row, context=context)


def enrich_cell(*, run_id: int, row_id: int) -> str:
    """Run one cell of ``run``: the whole pipeline. Returns what happened, for the task log.

    Safe to call more than once for the same cell (at-least-once delivery): only a cell that
    is queued for this run, or running with an expired lease, is taken.
    """
    from enrich.enrichment.runs import run_finish_if_complete

    run = _loaded_run(run_id)
    if run is None:
        return "run gone or cancelled"
    claim = _claim(run=run, row_id=row_id)
    if claim is None:
        return "not claimed: finished, cancelled or taken by a newer run"
    cell = (
        CellResult.objects.select_related("row")
        .only("id", "attempts", "row__id", "row__table_id", "row__values")
        .get(row_id=row_id, column_id=run.column_id)
    )
    with _held(cell_id=cell.pk, claim=claim):
        result = _run_claimed(run=run, cell=cell, claim=claim)
    run_finish_if_complete(run_id=run.pk)
    return result


def _run_claimed(*, run: Run, cell: CellResult, claim: str) -> str:
    """Execute and write a cell we hold; an unexpected failure is written as its error."""
    if cell.attempts > MAX_DELIVERIES:
        outcome = Outcome(
            status=CellResult.Status.ERROR,
            error=f"This cell was started {cell.attempts - 1} times without finishing; "
            "a worker may be crashing on it.",
            error_code="too_many_deliveries",
        )
        written = _write(cell=cell, run=run, claim=claim, outcome=outcome, hashed="")
        return f"gave up after {cell.attempts - 1} deliveries" if written else "superseded"
    enrichment = run.column
    try:
        hashed = input_hash(enrichment=enrichment, row=cell.row)
        outcome = execute(enrichment=enrichment, row=cell.row)
        written = _write(cell=cell, run=run, claim=claim, outcome=outcome, hashed=hashed)
    except Exception as exc:
        # Not a known error (those are outcomes): a bug or a store refusing the value. The
        # cell ends now with a message, rather than running until its lease and looping.
        logger.exception("Cell %s of run %s failed", cell.pk, run.pk)
        failure = Outcome(
            status=CellResult.Status.ERROR,
            error=f"The cell failed unexpectedly ({type(exc).__name__}); "
            "the worker log has the details.",
            error_code="internal_error",
        )
        _write(cell=cell, run=run, claim=claim, outcome=failure, hashed="")
        raise
    if written:
        try:
            _propagate(run=run, row_id=cell.row_id)
        except Exception:
            # The cell is written; what reads it is recomputed by the next change or run.
            logger.exception("Cell %s of run %s: updating what reads it failed", cell.pk, run.pk)
    return outcome.status if written else "superseded"


def _propagate(*, run: Run, row_id: int) -> None:
    """A written cell changes what reads it: formulas now, auto-update enrichments queued."""
    from enrich.enrichment.auto_update import propagate
    from enrich.enrichment.dependencies import cached_graph

    key = run.column.column.key
    if not cached_graph(table_id=run.column.column.table_id).downstream({key}):
        return
    # ``propagate`` reads the row again, locked: as it is now, not as it was claimed.
    propagate(row=Row(pk=row_id, table_id=run.column.column.table_id), changed={key})


#: The cells this process is running, by id, with their claims: the heartbeat renews them.
_held_cells: dict[int, str] = {}
_held_lock = threading.Lock()


@contextmanager
def _held(*, cell_id: int, claim: str) -> Iterator[None]:
    """Hold a cell for the heartbeat while it runs."""
    with _held_lock:
        _held_cells[cell_id] = claim
    try:
        yield
    finally:
        with _held_lock:
            _held_cells.pop(cell_id, None)


def renew_leases() -> int:
    """Extend the lease of every cell this process is running: one UPDATE. Returns how many."""
    with _held_lock:
        held = dict(_held_cells)
    if not held:
        return 0
    return CellResult.objects.filter(
        pk__in=list(held), claim__in=list(held.values()), status=CellResult.Status.RUNNING
    ).update(lease_until=timezone.now() + lease())


_runs: dict[int, tuple[float, Run]] = {}
_runs_lock = threading.Lock()
#: A worker reuses a loaded run (column, account, table) this long: one query per run and
#: worker instead of one per cell. Edits reach running cells within this delay; cancelling
#: needs none, since it is enforced on the cells themselves.
RUN_CACHE_S = 3.0


def _loaded_run(run_id: int) -> Run | None:
    """The run with its column, account and table, or None when it is gone or cancelled."""
    now = time.monotonic()
    with _runs_lock:
        cached = _runs.get(run_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    run = (
        Run.objects.select_related("column__column__table__workspace", "column__account__workspace")
        .filter(pk=run_id)
        .exclude(status=Run.Status.CANCELLED)
        .first()
    )
    with _runs_lock:
        for stale in [key for key, (expires, _) in _runs.items() if expires <= now]:
            del _runs[stale]
        if run is not None:
            _runs[run_id] = (now + RUN_CACHE_S, run)
    return run


def forget_loaded_runs() -> None:
    """Drop every cached run (tests whose rolled-back database reuses run ids)."""
    with _runs_lock:
        _runs.clear()


def _claim(*, run: Run, row_id: int) -> str | None:
    """Take the cell for this run; None when it is not ours to take."""
    now = timezone.now()
    claim = secrets.token_hex(16)
    taken = (
        CellResult.objects.filter(row_id=row_id, column_id=run.column_id, run_id=run.pk)
        .filter(
            Q(status=CellResult.Status.PENDING)
            | Q(status=CellResult.Status.RUNNING, lease_until__lt=now)
        )
        .update(
            status=CellResult.Status.RUNNING,
            claim=claim,
            lease_until=now + lease(),
            attempts=F("attempts") + 1,
            started_at=now,
        )
    )
    return claim if taken else None


def _write(*, cell: CellResult, run: Run, claim: str, outcome: Outcome, hashed: str) -> bool:
    """One atomic write of the outcome, only by the latest claimant of the same run."""
    now = timezone.now()
    error = outcome.error or outcome.skipped_reason
    written = CellResult.objects.filter(
        pk=cell.pk, run_id=run.pk, claim=claim, status=CellResult.Status.RUNNING
    ).update(
        status=outcome.status,
        value=outcome.value,
        error=error[:1000],
        error_code=outcome.error_code,
        http_status=outcome.http_status,
        requests=outcome.requests,
        elapsed_ms=outcome.elapsed_ms,
        debug=outcome.debug,
        details=outcome.details,
        input_hash=hashed,
        lease_until=None,
        finished_at=now,
        writes=F("writes") + 1,
    )
    return bool(written)
