"""Workers killed with SIGKILL in the middle of a run, while it runs and while it is being
planned: the run still ends by itself, every cell reaches one final state, none is written
twice (each cell counts its writes), within the lease and sweep intervals."""

from __future__ import annotations

import os
import time

import pytest
from django.db import transaction

from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.runs import run_queue
from tests.enrich.enrichment.conftest import FAST_RECOVERY, wait_for_end
from tests.servers import json_reply, sleep_then
from tests.worker import start_worker

pytestmark = pytest.mark.django_db(transaction=True)
LEASE_S = int(FAST_RECOVERY["ENRICH_CELL_LEASE_S"])
SWEEP_S = int(FAST_RECOVERY["ENRICH_SWEEP_S"])
REQUEUE_S = int(FAST_RECOVERY["ENRICH_REQUEUE_AFTER_S"])


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
    reason="the filesystem broker delivers about 10 tasks/s: too slow for a 1,500-row run",
)
def test_the_planner_killed_mid_plan_is_taken_over_and_queues_no_cell_twice(
    shared_worker_paused, workspace, make_table, api, make_enrichment
) -> None:
    rows = 1500  # three chunks of planning
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(rows)])
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    planner = start_worker(concurrency=4, env=FAST_RECOVERY)
    try:
        with transaction.atomic():
            run = run_queue(enrichment=enrichment)
        wait_until(
            lambda: Run.objects.filter(pk=run.pk, plan_row__isnull=False).exists(),
            timeout=60,
            worker=planner,
        )
        planner.process.kill()  # the first chunk is queued, its tasks partly sent
        planner.process.wait(timeout=10)
        run.refresh_from_db()
        assert run.status == Run.Status.PLANNING and run.total < rows
    finally:
        planner.stop()

    successor = start_worker(concurrency=4, env=FAST_RECOVERY)
    try:
        wait_for_end(run, timeout=120, workers=[successor])
    finally:
        successor.stop()

    run.refresh_from_db()
    assert run.status == Run.Status.DONE
    assert run.total == rows  # each chunk was counted once: no row was planned twice
    assert run.plan_attempts >= 2  # taken over (again, if a slow chunk outlived the short lease)
    assert run.counts == {"done": rows}
    writes = list(CellResult.objects.filter(column=enrichment).values_list("writes", flat=True))
    assert len(writes) == rows and set(writes) == {1}
