"""Runs of an enrichment column: queue, plan, cancel, watch, and pick up what was lost.

Queueing returns at once: ``run_queue`` records the run and hands planning to a worker, which
walks the table in chunks, marks each chosen cell as queued for the run and sends one task per
row. Progress is counted from the cells themselves, so it survives any worker or broker crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from kombu.exceptions import ChannelError, KombuError
from redis.exceptions import RedisError

from enrich.enrichment.models import CellResult, EnrichmentColumn, Run
from enrich.enrichment.pipeline import input_hash
from enrich.grid import visible_rows
from enrich.models import Row

logger = logging.getLogger(__name__)

PLAN_CHUNK = 1000
RATE_WINDOW = timedelta(seconds=15)
REAP_EVERY_S = 5


def run_queue(
    *,
    enrichment: EnrichmentColumn,
    scope: str = Run.Scope.ALL,
    row_ids: Iterable[int] = (),
    force: bool = False,
    created_by: AbstractBaseUser | None = None,
) -> Run:
    """Record a run and let a worker plan it after this transaction commits."""
    from enrich.enrichment.tasks import plan_run_task

    run = Run.objects.create(
        column=enrichment,
        scope=Run.Scope(scope),
        row_ids=sorted({int(row_id) for row_id in row_ids}),
        force=force,
        created_by=created_by,
    )
    transaction.on_commit(lambda: plan_run_task.delay(run.pk))
    return run


def run_plan(*, run_id: int) -> Run:
    """Choose the run's cells, queue them and send their tasks, a chunk at a time."""
    from enrich.enrichment.tasks import enrich_cell_task

    run = Run.objects.select_related("column__column__table", "column__account").get(pk=run_id)
    if run.status != Run.Status.PLANNING:
        return run  # a duplicate delivery, or cancelled before it started
    Run.objects.filter(pk=run.pk).update(started_at=timezone.now())
    rows = visible_rows(table=run.column.column.table).order_by("position", "pk")
    if run.scope == Run.Scope.ROWS:
        rows = rows.filter(pk__in=run.row_ids)
    total = 0
    for chunk in _chunks(rows):
        if Run.objects.filter(pk=run.pk, status=Run.Status.CANCELLED).exists():
            break
        chosen = _choose(run=run, rows=chunk)
        if not chosen:
            continue
        with transaction.atomic():
            _mark_queued(run=run, row_ids=chosen)
            Run.objects.filter(pk=run.pk).update(total=total + len(chosen))
            ids = list(chosen)
            transaction.on_commit(
                lambda ids=ids: [enrich_cell_task.delay(run.pk, row_id) for row_id in ids]
            )
        total += len(chosen)
    # Cells may already be running; the run is "running" (and can finish) once all are queued.
    Run.objects.filter(pk=run.pk, status=Run.Status.PLANNING).update(
        status=Run.Status.RUNNING, total=total
    )
    run.refresh_from_db()
    if total == 0:
        _finish(run)
    return run


def _chunks(rows) -> Iterable[list[Row]]:
    """The rows in (position, id) order, PLAN_CHUNK at a time, on the index."""
    last: tuple[int, int] | None = None
    while True:
        page = rows
        if last is not None:
            page = page.filter(Q(position__gt=last[0]) | Q(position=last[0], pk__gt=last[1]))
        chunk = list(page.only("pk", "position", "values")[:PLAN_CHUNK])
        if not chunk:
            return
        yield chunk
        last = (chunk[-1].position, chunk[-1].pk)


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


def _mark_queued(*, run: Run, row_ids: Sequence[int]) -> None:
    """Hand the cells to ``run``: one upsert, keeping each cell's last value on show."""
    now = timezone.now()
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


def run_cancel(*, run: Run) -> int:
    """Stop a run: no new calls start; cells not finished show as cancelled. Returns how many."""
    with transaction.atomic():
        updated = Run.objects.filter(
            pk=run.pk, status__in=[Run.Status.PLANNING, Run.Status.RUNNING]
        )
        if not updated.update(status=Run.Status.CANCELLED, finished_at=timezone.now()):
            return 0
        cancelled = CellResult.objects.filter(
            run=run, status__in=[CellResult.Status.PENDING, CellResult.Status.RUNNING]
        ).update(
            status=CellResult.Status.CANCELLED,
            error="The run was cancelled before this cell finished.",
            lease_until=None,
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return cancelled


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
    """Counts by status (one query), the recent rate, and the run closed once nothing is left."""
    counts = dict(CellResult.objects.filter(run=run).values_list("status").annotate(n=Count("pk")))
    since = timezone.now() - RATE_WINDOW
    recent = (
        CellResult.objects.filter(run=run, finished_at__gte=since).count() if run.is_active else 0
    )
    progress = Progress(
        run=run,
        done=counts.get(CellResult.Status.DONE, 0),
        error=counts.get(CellResult.Status.ERROR, 0),
        skipped=counts.get(CellResult.Status.SKIPPED, 0),
        pending=counts.get(CellResult.Status.PENDING, 0),
        running=counts.get(CellResult.Status.RUNNING, 0),
        cancelled=counts.get(CellResult.Status.CANCELLED, 0),
        rate_per_s=recent / RATE_WINDOW.total_seconds(),
    )
    if run.status == Run.Status.RUNNING and progress.remaining == 0:
        _finish(run)
    elif run.is_active and progress.remaining:
        reap_lost_cells(run=run)
    return progress


def _finish(run: Run) -> None:
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        status=Run.Status.DONE, finished_at=timezone.now()
    )
    run.refresh_from_db()


def active_runs(*, column_ids: Iterable[int]) -> dict[int, Run]:
    """The newest unfinished run of each of these enrichment columns, by column id."""
    newest: dict[int, Run] = {}
    for run in Run.objects.filter(
        column_id__in=list(column_ids), status__in=[Run.Status.PLANNING, Run.Status.RUNNING]
    ).order_by("-pk"):
        newest.setdefault(run.column_id, run)
    return newest


def reap_lost_cells(*, run: Run, force: bool = False) -> int:
    """Send again the tasks of cells that were lost: running past their lease (the worker
    died) or queued while the broker holds nothing (it restarted without persistence).

    Duplicates are harmless: a cell is only taken once. Throttled per run unless ``force``.
    """
    from enrich.enrichment.tasks import enrich_cell_task

    if not force and not cache.add(f"enrich:reap:{run.pk}", 1, timeout=REAP_EVERY_S):
        return 0
    now = timezone.now()
    expired = list(
        CellResult.objects.filter(
            run=run, status=CellResult.Status.RUNNING, lease_until__lt=now
        ).values_list("row_id", flat=True)[:PLAN_CHUNK]
    )
    stale_before = now - timedelta(seconds=settings.ENRICH_REQUEUE_AFTER_S)
    lost: list[int] = []
    if broker_queue_length() == 0:
        lost = list(
            CellResult.objects.filter(
                run=run, status=CellResult.Status.PENDING, queued_at__lt=stale_before
            ).values_list("row_id", flat=True)[:PLAN_CHUNK]
        )
        if lost:
            CellResult.objects.filter(run=run, row_id__in=lost).update(queued_at=now)
    for row_id in [*expired, *lost]:
        enrich_cell_task.delay(run.pk, row_id)
    if expired or lost:
        logger.info(
            "Run %s: sent again %d cells past their lease and %d lost queued cells",
            run.pk,
            len(expired),
            len(lost),
        )
    return len(expired) + len(lost)


def broker_queue_length() -> int | None:
    """Messages waiting in the task queue (None if the broker cannot say)."""
    from enrich.celery import app

    try:
        with app.connection_for_write() as connection:
            declared = connection.default_channel.queue_declare(
                queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True
            )
            return int(declared.message_count)
    except ChannelError:
        return 0  # Redis keeps no key for an empty queue: "no such queue" means none waiting
    except (OSError, KombuError, RedisError):
        # A broker that cannot answer means "don't know": nothing is sent again on a guess.
        logger.warning("Could not read the length of the task queue", exc_info=True)
        return None


def reap_all_active() -> int:
    """Reap every active run (at worker start)."""
    return sum(
        reap_lost_cells(run=run, force=True)
        for run in Run.objects.filter(status=Run.Status.RUNNING)
    )
