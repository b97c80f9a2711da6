"""Redis restarted empty in the middle of a run (no persistence): the queued cell tasks are
gone, yet the run completes, no cell is lost and none is written twice.

A private ``redis-server`` on a free port is the broker of a worker and of the
``run_column --wait`` process driving the run, so restarting it touches nothing else. Runs in
the services mode only (it needs Redis)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from enrich.enrichment.models import CellResult
from tests.servers import json_reply, sleep_then
from tests.worker import ROOT, start_worker
from tests.worker import test_database_url as worker_database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (the services run)"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]
ROWS = 40


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_a_broker_restarted_empty_mid_run_loses_no_cell(
    private_redis, workspace, make_table, api, make_enrichment
) -> None:
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(ROWS)])
    api.route("/", sleep_then(0.15, json_reply({"ok": True})))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    env = {
        "REDIS_URL": private_redis.url,
        "CELERY_BROKER_URL": private_redis.url,
        "ENRICH_CELL_LEASE_S": "3",
        "ENRICH_REQUEUE_AFTER_S": "1",
    }
    worker = start_worker(concurrency=2, env=env)
    driver = subprocess.Popen(
        [sys.executable, "manage.py", "run_column", "--workspace", str(workspace.pk),
         "--table", str(table.pk), "--column", enrichment.column.key, "--wait",
         "--timeout", "120"],
        cwd=ROOT,
        env={**os.environ, **env, "DATABASE_URL": worker_database_url()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while CellResult.objects.filter(column=enrichment, status="done").count() < 5:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.05)
        queued = CellResult.objects.filter(column=enrichment, status="pending").count()
        assert queued > ROWS // 2  # their tasks wait in the broker...
        private_redis.kill()  # ...and are gone with it
        private_redis.start()
        output, _ = driver.communicate(timeout=150)
    finally:
        if driver.poll() is None:
            driver.kill()
        worker.stop()

    assert driver.returncode == 0, output + worker.log()
    results = list(CellResult.objects.filter(column=enrichment))
    assert len(results) == ROWS
    assert {cell.status for cell in results} == {"done"}, output
    assert {cell.writes for cell in results} == {1}
