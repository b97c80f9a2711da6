"""Redis stopped for 20 s and restarted empty (no persistence), while a run runs and while it
is being planned: the workers stay up and reconnect, ``run_column --wait`` says the queue is
unreachable instead of failing, the run completes, no cell is lost and none is written twice.
The workers staying up is also the proof against kombu's crash on restoring unacknowledged
messages after a restart (AttributeError "'NoneType' object has no attribute 'hostname'"),
which the settings avoid by keeping no acknowledgements in Redis. A broker that stalls
(frozen) while a run is planned holds the planner up longer than its lease: the heartbeat
keeps its run. And a stopped Redis as the rate-limit store ends a cell with a clear error.

A private ``redis-server`` on a free port is the broker of the workers and of the
``run_column --wait`` process driving the run, so restarting it touches nothing else. The
tests with workers run in the services mode only (the broker must be that Redis)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.utils import timezone

from enrich.enrichment.models import CellResult, EnrichmentColumn, Run
from enrich.enrichment.pipeline import enrich_cell
from enrich.enrichment.runs import _mark_queued, run_queue
from enrich.models import Row
from tests.enrich.enrichment.conftest import FAST_RECOVERY, wait_for_end
from tests.redis_server import PrivateRedis
from tests.servers import json_reply, sleep_then
from tests.worker import ROOT, WorkerProcess, start_worker
from tests.worker import test_database_url as worker_database_url

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
#: The tests with workers: these take the private Redis as their broker, which only the
#: services run allows (the embedded run's broker is a folder), and share the database with them.
services_run = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis (the services run)"
)
shared_database = pytest.mark.django_db(transaction=True)
PLAN_LEASE_S = int(FAST_RECOVERY["ENRICH_PLAN_LEASE_S"])
OUTAGE_S = 20
#: After Redis answers again: workers reconnect (a few seconds), a sweep notices the empty
#: broker and sends the queued cells again, and the rest of the run completes.
RECOVERY_S = 30
#: How long a frozen broker holds the planner up: three plan leases without advancing.
STALL_S = 3 * PLAN_LEASE_S


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_env(private_redis) -> dict[str, str]:
    return {
        **FAST_RECOVERY,
        "REDIS_URL": private_redis.url,
        "CELERY_BROKER_URL": private_redis.url,
    }


def drive(*, enrichment: EnrichmentColumn, env: dict[str, str]) -> subprocess.Popen[str]:
    """``run_column --wait`` in its own process, as a user would run it."""
    table = enrichment.column.table
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_column", "--workspace", str(table.workspace_id),
         "--table", str(table.pk), "--column", enrichment.column.key, "--wait",
         "--timeout", "150"],
        cwd=ROOT,
        env={**os.environ, **env, "DATABASE_URL": worker_database_url()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def wait_until(condition, *, timeout: float, workers: list[WorkerProcess]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "\n".join(worker.log() for worker in workers)
        time.sleep(0.02)


def restart_empty(
    server: PrivateRedis, workers: list[WorkerProcess], *, at_kill: Callable[[], Any]
) -> tuple[float, Any]:
    """Stop Redis for OUTAGE_S with the workers running, start it empty; returns when it
    answered again and what ``at_kill`` read right after the kill."""
    server.kill()
    seen = at_kill()
    time.sleep(OUTAGE_S)
    for worker in workers:
        assert worker.process.poll() is None, f"a worker exited during the outage:\n{worker.log()}"
    server.start()
    return time.monotonic(), seen


def outage_until_the_end(
    server: PrivateRedis,
    *,
    enrichment: EnrichmentColumn,
    workers: list[WorkerProcess],
    driver: subprocess.Popen[str],
    timeout: float,
) -> tuple[Run, str, float, dict[str, Any]]:
    """Restart Redis empty, wait for the run to end and for the driver's last word; returns the
    run, what the driver printed, the seconds from Redis answering again to the end, and the
    run's status and total right after the kill."""

    def status_and_total() -> dict[str, Any]:
        return Run.objects.values("status", "total").get(column=enrichment)

    back_at, at_kill = restart_empty(server, workers, at_kill=status_and_total)
    run = Run.objects.get(column=enrichment)
    wait_for_end(run, timeout=timeout, workers=workers)
    recovered_in = time.monotonic() - back_at
    output, _ = driver.communicate(timeout=30)
    return run, output, recovered_in, at_kill


@contextmanager
def stopped_after(driver: subprocess.Popen[str], workers: list[WorkerProcess]) -> Iterator[None]:
    """The driver and the workers are stopped when the block ends, however it ends."""
    try:
        yield
    finally:
        if driver.poll() is None:
            driver.kill()
        for worker in workers:
            worker.stop()


def assert_every_cell_done_once(enrichment: EnrichmentColumn, rows: int) -> None:
    results = list(CellResult.objects.filter(column=enrichment).values_list("status", "writes"))
    assert len(results) == rows
    assert set(results) == {("done", 1)}


def planning_started(enrichment: EnrichmentColumn) -> Callable[[], bool]:
    """True once the run's first chunk is planned (and while it is still planning)."""
    return lambda: Run.objects.filter(
        column=enrichment, status=Run.Status.PLANNING, plan_row__isnull=False
    ).exists()


@services_run
@shared_database
def test_a_broker_restarted_empty_mid_run_loses_no_cell(
    redis_env, private_redis, workspace, make_table, api, make_enrichment
) -> None:
    rows = 60
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(rows)])
    api.route("/", sleep_then(0.3, json_reply({"ok": True})))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    workers = [start_worker(concurrency=2, env=redis_env) for _ in range(2)]
    driver = drive(enrichment=enrichment, env=redis_env)
    with stopped_after(driver, workers):
        wait_until(
            lambda: CellResult.objects.filter(column=enrichment, status="done").count() >= 5,
            timeout=60,
            workers=workers,
        )
        queued = CellResult.objects.filter(column=enrichment, status="pending").count()
        assert queued > rows // 2  # their tasks wait in the broker, and go with it
        run, output, recovered_in, at_kill = outage_until_the_end(
            private_redis, enrichment=enrichment, workers=workers, driver=driver,
            timeout=RECOVERY_S,
        )  # fmt: skip

    assert at_kill["status"] == Run.Status.RUNNING
    assert driver.returncode == 0, output
    assert "The queue is unreachable, retrying" in output
    assert "Traceback" not in output
    assert_every_cell_done_once(enrichment, rows)
    assert run.counts == {"done": rows}
    assert recovered_in < RECOVERY_S


@services_run
@shared_database
def test_a_broker_restarted_empty_while_planning_loses_no_cell(
    redis_env, private_redis, workspace, make_table, api, make_enrichment
) -> None:
    rows = 1500  # three chunks of planning: Redis dies after the first (asserted below)
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(rows)])
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    workers = [start_worker(concurrency=4, env=redis_env) for _ in range(2)]
    driver = drive(enrichment=enrichment, env=redis_env)
    with stopped_after(driver, workers):
        wait_until(planning_started(enrichment), timeout=60, workers=workers)
        run, output, recovered_in, at_kill = outage_until_the_end(
            private_redis, enrichment=enrichment, workers=workers, driver=driver,
            timeout=RECOVERY_S + 30,
        )  # fmt: skip

    # The fault hit planning: when Redis died, rows were still left to plan.
    assert at_kill["status"] == Run.Status.PLANNING and at_kill["total"] < rows, at_kill
    assert driver.returncode == 0, output
    assert "The queue is unreachable, retrying" in output
    assert "Traceback" not in output
    assert_every_cell_done_once(enrichment, rows)
    assert run.total == rows and run.counts == {"done": rows}
    assert recovered_in < RECOVERY_S + 30


@services_run
@shared_database
def test_a_planner_held_up_longer_than_its_lease_keeps_its_run(
    redis_env, private_redis, workspace, make_table, api, make_enrichment
) -> None:
    rows = 1000  # two chunks of planning: the broker freezes after the first
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(rows)])
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    worker = start_worker(concurrency=8, env=redis_env)
    driver = drive(enrichment=enrichment, env=redis_env)
    with stopped_after(driver, [worker]):
        wait_until(planning_started(enrichment), timeout=60, workers=[worker])
        # Frozen, not stopped: the planner's next send waits for Redis to answer, so the
        # planner is alive but makes no progress for three of its leases.
        assert private_redis.process is not None
        private_redis.process.send_signal(signal.SIGSTOP)
        try:
            held = Run.objects.values("status", "total", "plan_claim").get(column=enrichment)
            time.sleep(STALL_S)
            after = Run.objects.values(
                "status", "plan_claim", "plan_attempts", "plan_lease_until"
            ).get(column=enrichment)
            stalled_until = timezone.now()
        finally:
            private_redis.process.send_signal(signal.SIGCONT)
        run = Run.objects.get(column=enrichment)
        wait_for_end(run, timeout=RECOVERY_S, workers=[worker])
        output, _ = driver.communicate(timeout=30)

    assert held["status"] == Run.Status.PLANNING and held["total"] < rows, held
    # Three leases later the same planner holds the run: its worker's heartbeat renewed the
    # lease, so the sweeper (in the same worker) never released the run to a new planner.
    assert after["status"] == Run.Status.PLANNING and after["plan_claim"] == held["plan_claim"]
    assert after["plan_attempts"] == 1 and after["plan_lease_until"] > stalled_until
    run.refresh_from_db()
    assert run.plan_attempts == 1  # planned once, by one planner, start to end
    assert run.total == rows and run.counts == {"done": rows}
    assert_every_cell_done_once(enrichment, rows)
    assert driver.returncode == 0, output
    assert "Traceback" not in output


@pytest.mark.django_db
def test_a_stopped_rate_limit_store_ends_the_cell_with_a_clear_error(
    private_redis, settings, workspace, make_table, api, make_enrichment
) -> None:
    settings.REDIS_URL = private_redis.url  # this process's engine keeps rate limits there
    table = make_table(workspace, columns=("N",), rows=[{"n": "1"}])
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(
        table,
        request={
            "endpoint": api.url("/?n={{ row.n }}"),
            "rate_limit": {"requests": 5, "per_ms": 1000},
        },
    )
    run = run_queue(enrichment=enrichment)  # its planning task is never sent: nothing commits
    row = Row.objects.get(table=table)
    _mark_queued(run=run, row_ids=[row.pk])
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    private_redis.kill()

    happened = enrich_cell(run_id=run.pk, row_id=row.pk)  # all the cell's task does: no raise

    cell = CellResult.objects.get(run=run)
    assert happened == CellResult.Status.ERROR
    assert (cell.status, cell.error_code) == (CellResult.Status.ERROR, "rate_limit_store")
    assert cell.error == (
        "The shared rate-limit store (Redis) did not answer (ConnectionError); "
        "check that Redis is running and REDIS_URL points at it."
    )
    assert api.count() == 0  # no slot, no request
    run.refresh_from_db()
    assert run.status == Run.Status.DONE and run.counts == {"error": 1}
