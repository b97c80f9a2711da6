"""Runs of an enrichment column: queue, plan, cancel, watch and finish.

Queueing returns at once: ``run_queue`` records the run and hands planning to a worker, which
walks the table in chunks, marks each chosen cell as queued for the run and sends one task per
row. The planner holds the run with a lease, which its worker's heartbeat renews while it plans
(``renew_plan_leases``), and records how far it got after every chunk; so a slow planner keeps
its run, and one that dies is taken over by another worker (the sweeper notices) and resumes
after the last planned row. Since each chunk is planned under a lock on the run, two planners
never queue the same cell. Progress is counted from the cells themselves, so it survives any
worker or broker crash; the last write of a run, or the sweeper, ends it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from enrich.enrichment.broker import BROKER_ERRORS
from enrich.enrichment.models import CellResult, EnrichmentColumn, Run
from enrich.enrichment.pipeline import input_hash
from enrich.grid import visible_rows
from enrich.models import Row

logger = logging.getLogger(__name__)

#: Rows planned per transaction: the plan's progress is recorded after each chunk.
PLAN_CHUNK = 500
#: A run whose planning was taken up this many times without finishing is given up.
MAX_PLAN_ATTEMPTS = 10
RATE_WINDOW = timedelta(seconds=15)
UNFINISHED = (CellResult.Status.PENDING, CellResult.Status.RUNNING)


class QueueUnreachableError(Exception):
    """The broker did not take a run's tasks; the run resumes once it answers."""


def plan_lease() -> timedelta:
    """How long a planner holds a run unless renewed: its worker's heartbeat renews it, so it
    runs out only when the planner or its worker is gone, and another may take the run over."""
    return timedelta(seconds=settings.ENRICH_PLAN_LEASE_S)


#: The plan claims this process holds, with their runs' ids: the heartbeat renews them. Keyed
#: by claim, so a planner that lost its run and one that took it over never unregister each other.
_planning: dict[str, int] = {}
_planning_lock = threading.Lock()


@contextmanager
def _planning_held(*, run_id: int, claim: str) -> Iterator[None]:
    """Hold a run's plan for the heartbeat while this thread plans it."""
    with _planning_lock:
        _planning[claim] = run_id
    try:
        yield
    finally:
        with _planning_lock:
            _planning.pop(claim, None)


def renew_plan_leases() -> int:
    """Extend the plan lease of every run this process is planning: one UPDATE. Returns how
    many. A lease only moves forward: an UPDATE that waited for a chunk's lock on the run must
    not shorten the lease that chunk has just set."""
    with _planning_lock:
        held = dict(_planning)
    if not held:
        return 0
    until = timezone.now() + plan_lease()
    return Run.objects.filter(
        pk__in=list(held.values()),
        plan_claim__in=list(held),
        status=Run.Status.PLANNING,
        plan_lease_until__lt=until,
    ).update(plan_lease_until=until)


def run_queue(
    *,
    enrichment: EnrichmentColumn,
    scope: str = Run.Scope.ALL,
    row_ids: Iterable[int] = (),
    force: bool = False,
    created_by: User | None = None,
) -> Run:
    """Record a run and let a worker plan it after this transaction commits."""
    run = Run.objects.create(
        column=enrichment,
        scope=Run.Scope(scope),
        row_ids=sorted({int(row_id) for row_id in row_ids}),
        force=force,
        created_by=created_by,
        plan_lease_until=timezone.now() + plan_lease(),
    )
    transaction.on_commit(lambda: send_plan(run_id=run.pk))
    return run


def send_plan(*, run_id: int) -> None:
    """Send the run's planning task; with the broker down, the sweeper sends it later."""
    from enrich.enrichment.tasks import plan_run_task

    try:
        plan_run_task.delay(run_id)
    except BROKER_ERRORS:
        logger.warning("Run %s: the queue is unreachable; its planning starts later", run_id)


def run_plan(*, run_id: int) -> Run:
    """Choose the run's cells, queue them and send their tasks, a chunk at a time, resuming
    where an earlier planner stopped. Returns at once when another planner holds the run."""
    run = Run.objects.select_related("column__column__table", "column__account").get(pk=run_id)
    claim = _plan_claim(run=run)
    if claim is None:
        return run  # a duplicate delivery, a live planner, or not planning any more
    run.refresh_from_db()
    if run.plan_attempts > MAX_PLAN_ATTEMPTS:
        _plan_give_up(run=run, claim=claim)
        return run
    with _planning_held(run_id=run.pk, claim=claim):
        _plan_rows(run=run, claim=claim)
    run_finish_if_complete(run_id=run.pk)
    run.refresh_from_db()
    return run


def _plan_rows(*, run: Run, claim: str) -> None:
    """Send what an earlier planner left unsent, plan every chunk left, mark the run running."""
    if run.plan_unsent_at is not None:
        # The planner before us died while sending its last chunk: send what is still queued.
        unsent = list(
            CellResult.objects.filter(
                run=run, status=CellResult.Status.PENDING, queued_at=run.plan_unsent_at
            ).values_list("row_id", flat=True)
        )
        send_cells(run_id=run.pk, row_ids=unsent)
        Run.objects.filter(pk=run.pk, plan_claim=claim).update(plan_unsent_at=None)
    rows = visible_rows(table=run.column.column.table).order_by("position", "pk")
    if run.scope == Run.Scope.ROWS:
        rows = rows.filter(pk__in=run.row_ids)
    while _plan_chunk(run=run, rows=rows, claim=claim):
        pass
    # Cells may already be running; the run is "running" (and can finish) once all are queued.
    Run.objects.filter(pk=run.pk, status=Run.Status.PLANNING, plan_claim=claim).update(
        status=Run.Status.RUNNING, plan_claim="", plan_lease_until=None
    )


def _plan_claim(*, run: Run) -> str | None:
    """Take up the planning of ``run`` unless a live planner holds it; None when not ours."""
    now = timezone.now()
    claim = secrets.token_hex(16)
    taken = (
        Run.objects.filter(pk=run.pk, status=Run.Status.PLANNING)
        .filter(Q(plan_claim="") | Q(plan_lease_until__lt=now) | Q(plan_lease_until=None))
        .update(
            plan_claim=claim,
            plan_lease_until=now + plan_lease(),
            plan_attempts=F("plan_attempts") + 1,
            started_at=Coalesce(F("started_at"), Value(now)),
        )
    )
    return claim if taken else None


def _plan_chunk(*, run: Run, rows: QuerySet[Row], claim: str) -> bool:
    """Plan the next chunk after the recorded position; False once nothing is left or the run
    is no longer ours (cancelled, or taken over after we stalled)."""
    with transaction.atomic():
        # The lock makes "read the position, queue the chunk, record the position" one step.
        held = (
            Run.objects.select_for_update()
            .filter(pk=run.pk, status=Run.Status.PLANNING, plan_claim=claim)
            .values("plan_position", "plan_row")
            .first()
        )
        if held is None:
            return False
        page = rows
        if held["plan_row"] is not None:
            position, row_id = held["plan_position"], held["plan_row"]
            page = page.filter(Q(position__gt=position) | Q(position=position, pk__gt=row_id))
        chunk = list(page.only("pk", "position", "values")[:PLAN_CHUNK])
        if not chunk:
            return False
        chosen = _choose(run=run, rows=chunk)
        now = timezone.now()
        if chosen:
            _mark_queued(run=run, row_ids=chosen, now=now)
        Run.objects.filter(pk=run.pk).update(
            plan_position=chunk[-1].position,
            plan_row=chunk[-1].pk,
            total=F("total") + len(chosen),
            # From now, not from the chunk's start: a slow chunk must not end on a lapsed lease.
            plan_lease_until=timezone.now() + plan_lease(),
            plan_unsent_at=now if chosen else None,
        )

        def send() -> None:
            if send_cells(run_id=run.pk, row_ids=chosen) < len(chosen):
                # Planning stops here; the cells stay queued and marked unsent, and the
                # planner that takes over once the queue answers sends them first.
                raise QueueUnreachableError(
                    f"Run {run.pk}: the queue is unreachable; planning resumes later."
                )
            Run.objects.filter(pk=run.pk, plan_claim=claim).update(
                plan_unsent_at=None, plan_lease_until=timezone.now() + plan_lease()
            )

        if chosen:
            transaction.on_commit(send)
    return True


def _plan_give_up(*, run: Run, claim: str) -> None:
    """Planning failed again and again: end the run with a message, cancel what it queued."""
    message = f"Queueing the rows failed {MAX_PLAN_ATTEMPTS} times; the worker log has the details."
    with transaction.atomic():
        if Run.objects.filter(pk=run.pk, plan_claim=claim, status=Run.Status.PLANNING).update(
            status=Run.Status.CANCELLED, error=message, finished_at=timezone.now()
        ):
            _cancel_cells(run=run)
    logger.error("Run %s: %s", run.pk, message)


def _choose(*, run: Run, rows: Sequence[Row]) -> list[int]:
    """The ids of the rows this run should (re)compute."""
    enrichment = run.column
    if run.force or run.scope == Run.Scope.ROWS:
        return [row.pk for row in rows]
    existing = {
        cell["row_id"]: cell
        for cell in CellResult.objects.filter(
            column=enrichment, row_id__in=[row.pk for row in rows]
        ).values("row_id", "status", "input_hash")
    }
    chosen = []
    for row in rows:
        cell = existing.get(row.pk)
        if cell is None:
            chosen.append(row.pk)
        elif run.scope == Run.Scope.UNFINISHED:
            if cell["status"] in {CellResult.Status.ERROR, CellResult.Status.CANCELLED}:
                chosen.append(row.pk)
        elif cell["input_hash"] != input_hash(enrichment=enrichment, row=row) or cell["status"] in {
            CellResult.Status.ERROR,
            CellResult.Status.CANCELLED,
        }:
            chosen.append(row.pk)
    return chosen


def _mark_queued(*, run: Run, row_ids: Sequence[int], now: datetime | None = None) -> None:
    """Hand the cells to ``run``: one upsert, keeping each cell's last value on show."""
    now = now or timezone.now()
    CellResult.objects.bulk_create(
        [
            CellResult(
                row_id=row_id,
                column_id=run.column_id,
                run_id=run.pk,
                status=CellResult.Status.PENDING,
                queued_at=now,
            )
            for row_id in row_ids
        ],
        update_conflicts=True,
        unique_fields=["row", "column"],
        update_fields=["run", "status", "queued_at", "claim", "attempts", "lease_until"],
        batch_size=PLAN_CHUNK,
    )


def send_cells(*, run_id: int, row_ids: Sequence[int]) -> int:
    """Send a task for each of these cells of the run. Returns how many were sent before the
    broker failed, if it did: the cells stay queued and the sweeper sends them again."""
    from enrich.enrichment.tasks import enrich_cell_task

    sent = 0
    try:
        for row_id in row_ids:
            enrich_cell_task.delay(run_id, row_id)
            sent += 1
    except BROKER_ERRORS:
        logger.warning("Run %s: the queue is unreachable; %d cells wait", run_id, len(row_ids))
    return sent


def run_cancel(*, run: Run) -> int:
    """Stop a run: no new calls start; cells not finished show as cancelled. Returns how many."""
    with transaction.atomic():
        updated = Run.objects.filter(
            pk=run.pk, status__in=[Run.Status.PLANNING, Run.Status.RUNNING]
        )
        if not updated.update(status=Run.Status.CANCELLED, finished_at=timezone.now()):
            return 0
        cancelled = _cancel_cells(run=run)
        Run.objects.filter(pk=run.pk).update(counts=_final_counts(run_id=run.pk))
    run.refresh_from_db()
    return cancelled


def _cancel_cells(*, run: Run) -> int:
    return CellResult.objects.filter(run=run, status__in=UNFINISHED).update(
        status=CellResult.Status.CANCELLED,
        error="The run was cancelled before this cell finished.",
        lease_until=None,
        finished_at=timezone.now(),
    )


def run_finish_if_complete(*, run_id: int) -> bool:
    """End a running run whose cells are all final: status, finish time and counts. Safe to
    call from every cell write at once: one of them wins the guarded update."""
    if CellResult.objects.filter(run_id=run_id, status__in=UNFINISHED).exists():
        return False
    finished = Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(
        status=Run.Status.DONE, finished_at=timezone.now(), counts=_final_counts(run_id=run_id)
    )
    return bool(finished)


def _final_counts(*, run_id: int) -> dict[str, int]:
    return dict(
        CellResult.objects.filter(run_id=run_id).values_list("status").annotate(n=Count("pk"))
    )


@dataclass(frozen=True)
class Progress:
    """Where a run stands, counted from its cells."""

    run: Run
    done: int
    error: int
    skipped: int
    pending: int
    running: int
    cancelled: int
    rate_per_s: float

    @property
    def finished(self) -> int:
        return self.done + self.error + self.skipped + self.cancelled

    @property
    def remaining(self) -> int:
        return self.pending + self.running

    @property
    def percent(self) -> int:
        if not self.run.total:
            return 100 if not self.run.is_active else 0
        return min(100, round(100 * self.finished / self.run.total))

    @property
    def eta_s(self) -> int | None:
        if not self.remaining or self.rate_per_s <= 0:
            return None
        return round(self.remaining / self.rate_per_s)


def run_progress(*, run: Run) -> Progress:
    """Counts by status (one query) and the recent rate. Reads only: runs end by themselves."""
    counts = dict(CellResult.objects.filter(run=run).values_list("status").annotate(n=Count("pk")))
    since = timezone.now() - RATE_WINDOW
    recent = (
        CellResult.objects.filter(run=run, finished_at__gte=since).count() if run.is_active else 0
    )
    return Progress(
        run=run,
        done=counts.get(CellResult.Status.DONE, 0),
        error=counts.get(CellResult.Status.ERROR, 0),
        skipped=counts.get(CellResult.Status.SKIPPED, 0),
        pending=counts.get(CellResult.Status.PENDING, 0),
        running=counts.get(CellResult.Status.RUNNING, 0),
        cancelled=counts.get(CellResult.Status.CANCELLED, 0),
        rate_per_s=recent / RATE_WINDOW.total_seconds(),
    )


def active_runs(*, column_ids: Iterable[int]) -> dict[int, Run]:
    """The newest unfinished run of each of these enrichment columns, by column id."""
    newest: dict[int, Run] = {}
    for run in Run.objects.filter(
        column_id__in=list(column_ids), status__in=[Run.Status.PLANNING, Run.Status.RUNNING]
    ).order_by("-pk"):
        newest.setdefault(run.column_id, run)
    return newest
