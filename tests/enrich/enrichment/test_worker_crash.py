"""Workers killed with SIGKILL in the middle of a run, while it runs and while it is being
planned: the run still ends by itself, every cell reaches one final state, none is written
twice (each cell counts its writes), within the lease and sweep intervals. What the dead
worker held is taken over by a worker that was running beside it: nobody starts a new one."""

from __future__ import annotations

import os
import time

import pytest
from django.db import transaction

from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.runs import PLAN_CHUNK, run_queue
from tests.enrich.enrichment.conftest import FAST_RECOVERY, wait_for_end
from tests.servers import json_reply, sleep_then
from tests.worker import WorkerProcess, start_worker

pytestmark = pytest.mark.django_db(transaction=True)
LEASE_S = int(FAST_RECOVERY["ENRICH_CELL_LEASE_S"])
SWEEP_S = int(FAST_RECOVERY["ENRICH_SWEEP_S"])
REQUEUE_S = int(FAST_RECOVERY["ENRICH_REQUEUE_AFTER_S"])
PLAN_LEASE_S = int(FAST_RECOVERY["ENRICH_PLAN_LEASE_S"])
#: The rest of a 600-row run once its plan is taken over: sending the dead planner's chunk
#: again, planning the last 100 rows and running the 600 cells on one worker of 8 threads
#: (measured: 10-14 s), with room for a slower machine.
REST_OF_RUN_S = 25


@pytest.fixture
def shared_worker_paused(celery_worker):
    """The session's worker sits this test out, so only the workers started here run cells.

    It is stopped, not frozen: a frozen worker could still be handed a task by the broker
    (a blocking pop it issued before) and hold it for the whole test."""
    celery_worker.stop()
    try:
        yield
    finally:
        back = start_worker()
        celery_worker.process, celery_worker.output = back.process, back.output


def wait_until(condition, *, timeout: float, worker) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.02)


def planner_first(workers: list[WorkerProcess]) -> tuple[WorkerProcess, WorkerProcess]:
    """The worker that received the run's planning task (only one is sent), then the other."""
    wait_until(
        lambda: any("enrichment.plan_run[" in worker.log() for worker in workers),
        timeout=60,
        worker=workers[0],
    )
    planner = next(worker for worker in workers if "enrichment.plan_run[" in worker.log())
    return planner, next(worker for worker in workers if worker is not planner)


def test_a_worker_killed_mid_run_loses_no_cell_and_writes_none_twice(
    shared_worker_paused, workspace, make_table, api, make_enrichment
) -> None:
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(40)])
    api.route("/", sleep_then(0.3, json_reply({"ok": True})))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    survivor = start_worker(concurrency=4, env=FAST_RECOVERY)
    doomed = start_worker(concurrency=4, env=FAST_RECOVERY)
    try:
        with transaction.atomic():
            run = run_queue(enrichment=enrichment)
        wait_until(
            lambda: CellResult.objects.filter(run=run, status="done").count() >= 6,
            timeout=60,
            worker=doomed,
        )
        doomed.process.kill()  # SIGKILL: no cleanup, no acknowledgement, cells left running
        doomed.process.wait(timeout=10)
        killed_at = time.monotonic()
        assert CellResult.objects.filter(run=run).exclude(status="done").exists()

        wait_for_end(run, timeout=60, workers=[survivor])
        recovered_in = time.monotonic() - killed_at
    finally:
        doomed.stop()
        survivor.stop()

    results = list(CellResult.objects.filter(column=enrichment))
    assert len(results) == 40
    assert {cell.status for cell in results} == {"done"}
    assert {cell.writes for cell in results} == {1}
    run.refresh_from_db()
    assert run.status == Run.Status.DONE and run.finished_at is not None
    assert run.counts == {"done": 40}
    # The killed worker's cells came back after its leases ran out and a sweep sent them
    # again; the rest of the run (40 cells of 0.3 s on 4 threads) takes about 3 s.
    assert recovered_in < LEASE_S + SWEEP_S + REQUEUE_S + 20, recovered_in


def test_a_call_longer_than_the_lease_keeps_its_cell_on_threads_and_on_prefork(
    shared_worker_paused, workspace, make_table, api, make_enrichment
) -> None:
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(2)])
    api.route("/", sleep_then(2 * LEASE_S, json_reply({"ok": True})))
    enrichment = make_enrichment(
        table, request={"endpoint": api.url("/?n={{ row.n }}"), "timeout_s": 4 * LEASE_S}
    )
    for pool in ("threads", "prefork"):  # a prefork child renews its own cells' leases
        worker = start_worker(concurrency=2, env=FAST_RECOVERY, pool=pool)
        try:
            with transaction.atomic():
                run = run_queue(enrichment=enrichment, force=True)
            wait_for_end(run, timeout=60, workers=[worker])
        finally:
            worker.stop()

        # The heartbeat renewed the leases: nobody took the cells over and called again.
        results = list(CellResult.objects.filter(run=run).values("status", "attempts"))
        assert results == [{"status": "done", "attempts": 1}] * 2, pool
    assert api.count() == 4


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="the filesystem broker delivers about 10 tasks/s: too slow for a 600-row run",
)
def test_the_planner_killed_mid_plan_is_taken_over_by_a_running_worker_and_queues_no_cell_twice(
    shared_worker_paused, workspace, make_table, api, make_enrichment
) -> None:
    rows = PLAN_CHUNK + 100  # two chunks of planning: the planner dies after the first
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(rows)])
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    workers = [start_worker(concurrency=8, env=FAST_RECOVERY) for _ in range(2)]
    try:
        with transaction.atomic():
            run = run_queue(enrichment=enrichment)
        planner, survivor = planner_first(workers)
        wait_until(
            lambda: Run.objects.filter(pk=run.pk, plan_row__isnull=False).exists(),
            timeout=60,
            worker=planner,
        )
        planner.process.kill()  # the first chunk is queued, its tasks partly sent
        planner.process.wait(timeout=10)
        killed_at = time.monotonic()
        run.refresh_from_db()
        assert run.status == Run.Status.PLANNING and run.total < rows

        # Nobody new starts: the worker that was running beside the planner takes it over.
        wait_for_end(run, timeout=PLAN_LEASE_S + SWEEP_S + REST_OF_RUN_S, workers=[survivor])
        recovered_in = time.monotonic() - killed_at
    finally:
        for worker in workers:
            worker.stop()

    run.refresh_from_db()
    assert run.status == Run.Status.DONE
    assert run.total == rows  # each chunk was counted once: no row was planned twice
    assert run.plan_attempts == 2  # planned by the dead planner, then by the survivor only
    assert run.counts == {"done": rows}
    writes = list(CellResult.objects.filter(column=enrichment).values_list("writes", flat=True))
    assert len(writes) == rows and set(writes) == {1}
    # The plan lease runs out, a sweep of the survivor releases the run and the survivor plans
    # the rest; then the rest of the run.
    assert recovered_in < PLAN_LEASE_S + SWEEP_S + REST_OF_RUN_S, recovered_in
