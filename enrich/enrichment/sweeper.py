"""The sweeper: every ``ENRICH_SWEEP_S`` one worker (the holder of the sweep row) heals the runs.

1. Running cells past their lease (their worker died) are queued again.
2. Runs whose plan lease ran out (nobody renews it: the planner died, or its task was lost)
   are planned again; the new planner resumes after the last planned row.
3. Queued cells whose task is gone are sent again: every one of them when the broker came
   back empty; otherwise those the queue has already moved past (a dead worker had prefetched
   them), and, once the queue is empty, any that waited ``ENRICH_REQUEUE_AFTER_S``.
4. Running runs whose cells are all final end.

Every step is safe to repeat and to race with the workers: a cell is taken by one claim only,
so a task sent twice costs one refused claim, never a second write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Max, Q
from django.utils import timezone

from enrich.enrichment.broker import broker_epoch, queue_length
from enrich.enrichment.models import CellResult, Run, Sweep
from enrich.enrichment.runs import run_finish_if_complete, send_cells, send_plan

logger = logging.getLogger(__name__)

#: Cells sent again per run and step in one sweep; the next sweep takes the rest.
SWEEP_LIMIT = 5000
#: A sweep that takes longer than this may overlap the next one (harmless, only wasteful).
SWEEP_HOLD = timedelta(seconds=60)
ACTIVE = (Run.Status.PLANNING, Run.Status.RUNNING)


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did, for the worker log and the tests."""

    expired: int = 0
    plans: int = 0
    lost: int = 0
    finished: int = 0

    def __bool__(self) -> bool:
        return bool(self.expired or self.plans or self.lost or self.finished)


def sweep(*, holder: str) -> SweepReport | None:
    """Sweep once if no other worker holds the sweep; None when another one does."""
    if not _take(holder=holder):
        return None
    try:
        report = SweepReport(
            expired=requeue_expired_cells(),
            plans=resume_stalled_plans(),
            lost=resend_lost_cells(),
            finished=finish_complete_runs(),
        )
    finally:
        # The holder sweeps again at its next tick; another worker takes over only once a
        # whole interval passed without it.
        Sweep.objects.filter(pk=1, holder=holder).update(
            held_until=timezone.now() + timedelta(seconds=settings.ENRICH_SWEEP_S),
            swept_at=timezone.now(),
        )
    if report:
        logger.info(
            "Sweep: %d cells past their lease, %d stalled plans, %d lost cells sent again, "
            "%d runs finished",
            report.expired,
            report.plans,
            report.lost,
            report.finished,
        )
    return report


def _take(*, holder: str) -> bool:
    now = timezone.now()
    Sweep.objects.get_or_create(pk=1)
    return bool(
        Sweep.objects.filter(pk=1)
        .filter(Q(held_until=None) | Q(held_until__lt=now) | Q(holder=holder))
        .update(holder=holder, held_until=now + SWEEP_HOLD)
    )


def requeue_expired_cells() -> int:
    """Queue again the running cells whose lease ran out: nobody renews them any more."""
    now = timezone.now()
    expired = list(
        CellResult.objects.filter(
            status=CellResult.Status.RUNNING, lease_until__lt=now, run__status__in=ACTIVE
        ).values_list("pk", "run_id", "row_id")[:SWEEP_LIMIT]
    )
    if not expired:
        return 0
    CellResult.objects.filter(
        pk__in=[pk for pk, _, _ in expired], status=CellResult.Status.RUNNING, lease_until__lt=now
    ).update(status=CellResult.Status.PENDING, queued_at=now, claim="", lease_until=None)
    _send_by_run([(run_id, row_id) for _, run_id, row_id in expired])
    return len(expired)


def resume_stalled_plans() -> int:
    """Send a new planning task for each run whose plan lease ran out (no live planner renews
    it); the planner that takes it resumes after the last planned row."""
    now = timezone.now()
    stalled = list(
        Run.objects.filter(status=Run.Status.PLANNING)
        .filter(Q(plan_lease_until__lt=now) | Q(plan_lease_until=None))
        .values_list("pk", "plan_lease_until")
    )
    resumed = 0
    for run_id, lease_until in stalled:
        # Releasing the claim stops, at its next chunk, a planner whose worker stopped renewing
        # its lease (a stuck timer); the lease set here spaces out the tasks sent while the
        # broker keeps losing them.
        renewed = now + timedelta(seconds=settings.ENRICH_PLAN_LEASE_S)
        if Run.objects.filter(
            pk=run_id, status=Run.Status.PLANNING, plan_lease_until=lease_until
        ).update(plan_claim="", plan_lease_until=renewed):
            send_plan(run_id=run_id)
            resumed += 1
    return resumed


def resend_lost_cells() -> int:
    """Send again the queued cells whose task the broker no longer holds (see the module)."""
    epoch = broker_epoch()
    if epoch is None:
        return 0  # the broker is down: nothing could be sent, and nothing is known
    now = timezone.now()
    runs = list(Run.objects.filter(status__in=ACTIVE).values_list("pk", "plan_unsent_at"))
    if not runs:
        _remember_epoch(epoch)
        return 0
    queued = CellResult.objects.filter(
        run_id__in=[run_id for run_id, _ in runs], status=CellResult.Status.PENDING
    )
    for run_id, unsent_at in runs:
        if unsent_at is not None:
            # A live planner is still sending that chunk (or whoever takes over will).
            queued = queued.exclude(run_id=run_id, queued_at=unsent_at)
    state = Sweep.objects.get(pk=1)
    if epoch != state.broker_epoch:
        lost = queued.filter(queued_at__lt=now)
    else:
        lost = queued.filter(_lost_without_restart(run_ids=[run_id for run_id, _ in runs], now=now))
    cells = list(lost.values_list("pk", "run_id", "row_id")[:SWEEP_LIMIT])
    if cells:
        CellResult.objects.filter(pk__in=[pk for pk, _, _ in cells]).update(queued_at=now)
        _send_by_run([(run_id, row_id) for _, run_id, row_id in cells])
    _remember_epoch(epoch)
    return len(cells)


def _lost_without_restart(*, run_ids: list[int], now: datetime) -> Q:
    """Which old queued cells are lost while the broker kept its messages.

    The queue is first in, first out: a cell still queued while a cell queued well after it
    has been taken was skipped (a dead worker held its task). Once the queue is empty,
    every old queued cell was skipped."""
    waited = now - timedelta(seconds=settings.ENRICH_REQUEUE_AFTER_S)
    if queue_length() == 0:
        return Q(queued_at__lt=waited)
    frontier = (
        CellResult.objects.filter(run_id__in=run_ids, started_at__gte=F("queued_at"))
        .exclude(status=CellResult.Status.PENDING)
        .aggregate(newest=Max("queued_at"))["newest"]
    )
    if frontier is None:
        return Q(pk__in=[])
    passed = frontier - timedelta(seconds=settings.ENRICH_REQUEUE_AFTER_S)
    return Q(queued_at__lt=min(waited, passed))


def _remember_epoch(epoch: str) -> None:
    Sweep.objects.filter(pk=1).exclude(broker_epoch=epoch).update(broker_epoch=epoch)


def _send_by_run(cells: list[tuple[int, int]]) -> None:
    by_run: dict[int, list[int]] = {}
    for run_id, row_id in cells:
        by_run.setdefault(run_id, []).append(row_id)
    for run_id, row_ids in by_run.items():
        send_cells(run_id=run_id, row_ids=row_ids)


def finish_complete_runs() -> int:
    """End every running run whose cells are all final (their last write may have been lost)."""
    return sum(
        run_finish_if_complete(run_id=run_id)
        for run_id in Run.objects.filter(status=Run.Status.RUNNING).values_list("pk", flat=True)
    )
