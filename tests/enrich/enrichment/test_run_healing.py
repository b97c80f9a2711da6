"""The healing steps one at a time, without a worker: a planner taking over a stalled plan,
a live planner left alone (and its lease renewed by the heartbeat), and the sweeper's steps on
cells and runs set up by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from enrich.enrichment import sweeper
from enrich.enrichment.heartbeat import WorkerTimer
from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.runs import (
    PLAN_CHUNK,
    _mark_queued,
    _plan_claim,
    _planning_held,
    run_plan,
    run_queue,
)
from enrich.grid import visible_rows

pytestmark = pytest.mark.django_db
ROWS = PLAN_CHUNK * 2 + 100


@pytest.fixture
def big_table(workspace, make_table):
    return make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(ROWS)])


@pytest.fixture
def enrichment(big_table, api, make_enrichment):
    return make_enrichment(big_table, request={"endpoint": api.url("/?n={{ row.n }}")})


def dead_planner_after_first_chunk(run: Run) -> tuple[list[int], object]:
    """What a planner killed right after queueing its first chunk leaves behind."""
    first = list(visible_rows(table=run.column.column.table).order_by("position", "pk"))
    first = first[:PLAN_CHUNK]
    queued_at = timezone.now() - timedelta(seconds=60)
    _mark_queued(run=run, row_ids=[row.pk for row in first], now=queued_at)
    Run.objects.filter(pk=run.pk).update(
        plan_claim="d" * 32,
        plan_lease_until=timezone.now() - timedelta(seconds=1),
        plan_position=first[-1].position,
        plan_row=first[-1].pk,
        plan_unsent_at=queued_at,
        plan_attempts=1,
        total=PLAN_CHUNK,
    )
    return [row.pk for row in first], queued_at


def test_a_stalled_plan_is_taken_over_and_resumed_after_the_last_planned_row(
    enrichment,
) -> None:
    run = run_queue(enrichment=enrichment)
    planned_before, queued_at = dead_planner_after_first_chunk(run)

    run = run_plan(run_id=run.pk)

    assert run.status == Run.Status.RUNNING
    assert run.total == ROWS  # the first chunk was not counted (nor queued) again
    assert run.plan_attempts == 2 and run.plan_claim == ""
    queued = CellResult.objects.filter(run=run, status="pending")
    assert queued.count() == ROWS
    # The dead planner's chunk kept its queue time: it was sent again, not planned again.
    assert queued.filter(row_id__in=planned_before, queued_at=queued_at).count() == PLAN_CHUNK


def test_a_live_planner_is_left_alone(enrichment) -> None:
    run = run_queue(enrichment=enrichment)
    Run.objects.filter(pk=run.pk).update(
        plan_claim="a" * 32, plan_lease_until=timezone.now() + timedelta(seconds=30)
    )

    run = run_plan(run_id=run.pk)  # a duplicate delivery of the planning task

    assert run.status == Run.Status.PLANNING and run.plan_claim == "a" * 32
    assert not CellResult.objects.filter(run=run).exists()


def test_the_heartbeat_renews_the_plan_lease_of_a_run_this_process_plans_only(
    enrichment,
) -> None:
    run = run_queue(enrichment=enrichment)
    claim = _plan_claim(run=run)
    assert claim is not None
    timer = WorkerTimer(hostname="test-worker", sweeps=False)
    lapsing = timezone.now() + timedelta(milliseconds=200)

    with _planning_held(run_id=run.pk, claim=claim):  # a planner held up by a slow step
        Run.objects.filter(pk=run.pk).update(plan_lease_until=lapsing)
        timer.beat()
        run.refresh_from_db()
        renewed = run.plan_lease_until
        assert renewed > lapsing + timedelta(seconds=settings.ENRICH_PLAN_LEASE_S - 1)
        assert sweeper.resume_stalled_plans() == 0  # its run is not handed to another planner
        far = timezone.now() + timedelta(hours=1)
        Run.objects.filter(pk=run.pk).update(plan_lease_until=far)
        timer.beat()  # a renewal never shortens a lease (one a chunk has just set)
        run.refresh_from_db()
        assert run.plan_lease_until == far

    # The planner is gone (its thread ended, or its process died): nothing renews its lease.
    lapsed = timezone.now() - timedelta(seconds=1)
    Run.objects.filter(pk=run.pk).update(plan_lease_until=lapsed)
    timer.beat()
    run.refresh_from_db()
    assert run.plan_lease_until == lapsed and run.plan_claim == claim
    assert sweeper.resume_stalled_plans() == 1


def test_the_sweeper_releases_a_stalled_plan_for_a_new_planner(enrichment) -> None:
    run = run_queue(enrichment=enrichment)
    dead_planner_after_first_chunk(run)

    assert sweeper.resume_stalled_plans() == 1

    run.refresh_from_db()
    assert run.plan_claim == "" and run.plan_lease_until > timezone.now()
    assert sweeper.resume_stalled_plans() == 0  # not again before the new lease ends


def test_the_sweeper_queues_again_cells_whose_lease_ran_out(enrichment) -> None:
    run = run_queue(enrichment=enrichment)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    rows = list(visible_rows(table=enrichment.column.table).values_list("pk", flat=True)[:3])
    _mark_queued(run=run, row_ids=rows)
    past, future = timezone.now() - timedelta(seconds=1), timezone.now() + timedelta(seconds=30)
    CellResult.objects.filter(run=run, row_id=rows[0]).update(status="running", lease_until=past)
    CellResult.objects.filter(run=run, row_id=rows[1]).update(status="running", lease_until=future)

    assert sweeper.requeue_expired_cells() == 1

    statuses = dict(CellResult.objects.filter(run=run).values_list("row_id", "status"))
    assert statuses == {rows[0]: "pending", rows[1]: "running", rows[2]: "pending"}


def test_the_sweeper_ends_a_run_whose_cells_are_all_final(enrichment) -> None:
    run = run_queue(enrichment=enrichment)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    rows = list(visible_rows(table=enrichment.column.table).values_list("pk", flat=True)[:3])
    _mark_queued(run=run, row_ids=rows)
    CellResult.objects.filter(run=run).update(status="done")
    CellResult.objects.filter(run=run, row_id=rows[2]).update(status="skipped")

    assert sweeper.finish_complete_runs() == 1

    run.refresh_from_db()
    assert run.status == Run.Status.DONE and run.finished_at is not None
    assert run.counts == {"done": 2, "skipped": 1}
