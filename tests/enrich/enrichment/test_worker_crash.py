"""A worker killed with SIGKILL in the middle of a run: the run still completes, no cell is
lost and none is written twice (each cell counts its writes)."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from enrich.enrichment.models import CellResult
from enrich.enrichment.runs import run_queue
from tests.enrich.enrichment.conftest import wait_for_run
from tests.servers import json_reply, sleep_then
from tests.worker import start_worker

pytestmark = pytest.mark.django_db(transaction=True)
SHORT_LEASE = {"ENRICH_CELL_LEASE_S": "2"}


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


def test_a_worker_killed_mid_run_loses_no_cell_and_writes_none_twice(
    shared_worker_paused, workspace, make_table, api, make_enrichment, settings
) -> None:
    settings.ENRICH_REQUEUE_AFTER_S = 1
    table = make_table(workspace, columns=("N",), rows=[{"n": str(n)} for n in range(30)])
    api.route("/", sleep_then(0.3, json_reply({"ok": True})))
    enrichment = make_enrichment(table, request={"endpoint": api.url("/?n={{ row.n }}")})
    doomed = start_worker(concurrency=4, env=SHORT_LEASE)
    try:
        with transaction.atomic():
            run = run_queue(enrichment=enrichment)
        deadline = time.monotonic() + 60
        while CellResult.objects.filter(run=run, status="done").count() < 6:
            assert time.monotonic() < deadline, doomed.log()
            time.sleep(0.05)
        doomed.process.kill()  # SIGKILL: no cleanup, no acknowledgement, cells left running
        doomed.process.wait(timeout=10)
        assert CellResult.objects.filter(run=run).exclude(status="done").exists()
    finally:
        doomed.stop()

    survivor = start_worker(concurrency=4, env=SHORT_LEASE)
    try:
        wait_for_run(run, worker=survivor, timeout=120)
    finally:
        survivor.stop()

    results = list(CellResult.objects.filter(column=enrichment))
    assert len(results) == 30
    assert {cell.status for cell in results} == {"done"}
    assert {cell.writes for cell in results} == {1}
    assert max(cell.attempts for cell in results) >= 1
