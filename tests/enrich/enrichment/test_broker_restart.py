"""Redis stopped for 20 s and restarted empty (no persistence), while a run runs and while it
is being planned: the workers stay up and reconnect, ``run_column --wait`` says the queue is
unreachable instead of failing, the run completes, no cell is lost and none is written twice.
The workers staying up is also the proof against kombu's crash on restoring unacknowledged
messages after a restart (AttributeError "'NoneType' object has no attribute 'hostname'"),
which the settings avoid by keeping no acknowledgements in Redis.

A private ``redis-server`` on a free port is the broker of the workers and of the
``run_column --wait`` process driving the run, so restarting it touches nothing else. Runs in
the services mode only (it needs Redis)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from enrich.enrichment.models import CellResult, EnrichmentColumn, Run
from tests.enrich.enrichment.conftest import FAST_RECOVERY, wait_for_end
from tests.redis_server import PrivateRedis
from tests.servers import json_reply, sleep_then
from tests.worker import ROOT, WorkerProcess, start_worker
from tests.worker import test_database_url as worker_database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (the services run)"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]
OUTAGE_S = 20
#: After Redis answers again: workers reconnect (a few seconds), a sweep notices the empty
#: broker and sends the queued cells again, and the rest of the run completes.
RECOVERY_S = 30


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


def restart_empty(server: PrivateRedis, workers: list[WorkerProcess]) -> float:
    """Stop Redis for OUTAGE_S with the workers running, start it empty; returns when."""
    server.kill()
    time.sleep(OUTAGE_S)
    for worker in workers:
        assert worker.process.poll() is None, f"a worker exited during the outage:\n{worker.log()}"
    server.start()
    return time.monotonic()


def outage_until_the_end(
    server: PrivateRedis,
    *,
    enrichment: EnrichmentColumn,
    workers: list[WorkerProcess],
    driver: subprocess.Popen[str],
    timeout: float,
) -> tuple[Run, str, float]:
    """Restart Redis empty, wait for the run to end and for the driver's last word; returns the
    run, what the driver printed and the seconds from Redis answering again to the end."""
    back_at = restart_empty(server, workers)
    run = Run.objects.get(column=enrichment)
    wait_for_end(run, timeout=timeout, workers=workers)
    recovered_in = time.monotonic() - back_at
    output, _ = driver.communicate(timeout=30)
    return run, output, recovered_in


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
        run, output, recovered_in = outage_until_the_end(
            private_redis, enrichment=enrichment, workers=workers, driver=driver,
            timeout=RECOVERY_S,
        )  # fmt: skip

    assert driver.returncode == 0, output
    assert "The queue is unreachable, retrying" in output
    assert "Traceback" not in output
    assert_every_cell_done_once(enrichment, rows)
    assert run.counts == {"done": rows}
    assert recovered_in < RECOVERY_S


def test_a_broker_restarted_empty_while_planning_loses_no_cell(
    redis_env, private_redis, workspace, make_table, api, make_enrichment
) -> None:
    rows = 1500  # three chunks of planning: the outage comes after the first
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(rows)])
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    workers = [start_worker(concurrency=4, env=redis_env) for _ in range(2)]
    driver = drive(enrichment=enrichment, env=redis_env)
    with stopped_after(driver, workers):
        wait_until(
            lambda: Run.objects.filter(
                column=enrichment, status=Run.Status.PLANNING, plan_row__isnull=False
            ).exists(),
            timeout=60,
            workers=workers,
        )
        run, output, recovered_in = outage_until_the_end(
            private_redis, enrichment=enrichment, workers=workers, driver=driver,
            timeout=RECOVERY_S + 30,
        )  # fmt: skip

    assert driver.returncode == 0, output
    assert "The queue is unreachable, retrying" in output
    assert_every_cell_done_once(enrichment, rows)
    assert run.total == rows and run.counts == {"done": rows}
    assert recovered_in < RECOVERY_S + 30
