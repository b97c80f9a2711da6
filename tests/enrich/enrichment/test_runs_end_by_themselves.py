"""Runs end with nobody watching, a cell whose execution raises ends in error at once, and the
workers report themselves alive on their own timer: all on the session's real worker, read
from the database only (nothing calls ``run_progress``)."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from enrich import health
from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.runs import run_queue
from enrich.models import WorkerHeartbeat
from tests.enrich.enrichment.conftest import cells, wait_for_end
from tests.servers import Reply, json_reply

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_ends_with_its_counts_when_nobody_polls(
    celery_worker, leads, api, make_enrichment
) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(
        leads, request={"endpoint": api.url("/?e={{ row.email }}")}, only_run_if="row.n != '4'"
    )
    with transaction.atomic():
        run = run_queue(enrichment=enrichment)

    wait_for_end(run, timeout=30, workers=[celery_worker])

    assert run.status == Run.Status.DONE
    assert run.finished_at is not None and run.started_at is not None
    assert run.total == 10
    assert run.counts == {"done": 9, "skipped": 1}


def test_a_cell_whose_execution_raises_ends_in_error_at_once(
    celery_worker, leads, api, make_enrichment
) -> None:
    # NaN is what Python's json module accepts and no JSON column can store: writing the
    # value raises inside the task. The other rows answer normally.
    api.route(
        "/",
        lambda r: Reply(
            headers={"Content-Type": "application/json"},
            body=b'{"score": NaN}' if r.query["n"] == ["3"] else b'{"score": 1}',
        ),
    )
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/?n={{ row.n }}")})
    with transaction.atomic():
        run = run_queue(enrichment=enrichment)

    # Well within the lease (30 s): the cell does not wait for it, nor run again.
    wait_for_end(run, timeout=20, workers=[celery_worker])

    broken = CellResult.objects.get(column=enrichment, row__values__n="3")
    assert broken.status == "error"
    assert broken.error_code == "internal_error"
    assert "failed unexpectedly" in broken.error and "worker log" in broken.error
    assert broken.attempts == 1 and broken.writes == 1 and broken.value is None
    assert [cell.status for cell in cells(enrichment)].count("done") == 9
    assert run.counts == {"done": 9, "error": 1}
    assert api.count() == 10


def test_a_worker_reports_itself_alive_on_its_own_timer(celery_worker, settings) -> None:
    deadline = time.monotonic() + 3 * settings.ENRICH_HEARTBEAT_S + 5
    first = None
    while True:
        seen = list(WorkerHeartbeat.objects.values_list("seen_at", flat=True))
        if seen:
            first = first or max(seen)
            if max(seen) > first:
                break  # a second heartbeat, with no task sent and no page opened
        assert time.monotonic() < deadline, celery_worker.log()
        time.sleep(0.2)
    assert health.health_check().worker_ok
