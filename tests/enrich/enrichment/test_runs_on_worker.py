"""Running columns end to end: queued from the test, executed by a real Celery worker process
against real local APIs, watched through the same progress the UI polls."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import transaction

from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.runs import run_cancel, run_progress, run_queue
from enrich.models import Row
from enrich.rows import row_set_value
from tests.enrich.enrichment.conftest import cells, wait_for_run
from tests.servers import RecordedRequest, Reply, json_reply, sleep_then

pytestmark = pytest.mark.django_db(transaction=True)


def queue(enrichment, **options) -> Run:
    with transaction.atomic():
        return run_queue(enrichment=enrichment, **options)


def test_a_column_runs_every_row_on_a_worker(celery_worker, leads, api, make_enrichment) -> None:
    api.route(
        "/people",
        lambda r: Reply.json({"data": {"email": r.query["email"][-1], "score": 7}}),
    )
    enrichment = make_enrichment(
        leads,
        request={
            "endpoint": api.url("/people"),
            "query": {"email": "{{ row.email }}"},
            "field_paths": "data.email, data.score",
        },
    )

    run = wait_for_run(queue(enrichment), worker=celery_worker)

    results = cells(enrichment)
    assert run.status == "done" and run.total == 10
    assert [cell.status for cell in results] == ["done"] * 10
    assert results[3].value == {"data": {"email": "lead3@example.test", "score": 7}}
    assert api.count("/people") == 10
    progress = run_progress(run=run)
    assert (progress.done, progress.remaining, progress.percent) == (10, 0, 100)


def test_only_run_if_skips_rows_and_a_second_run_skips_unchanged_rows(
    celery_worker, leads, api, make_enrichment
) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(
        leads,
        request={"endpoint": api.url("/?e={{ row.email }}")},
        only_run_if='row.country == "US"',
    )
    wait_for_run(queue(enrichment), worker=celery_worker)
    statuses = [cell.status for cell in cells(enrichment)]
    assert statuses.count("skipped") == 4 and statuses.count("done") == 6
    assert api.count() == 6

    again = wait_for_run(queue(enrichment), worker=celery_worker)
    assert again.total == 0  # nothing changed: nothing to run
    row = Row.objects.get(table=leads, values__n="1")
    email = leads.columns.get(key="email")
    row_set_value(row=row, column=email, raw="changed@example.test")
    changed = wait_for_run(queue(enrichment), worker=celery_worker)
    assert changed.total == 1
    assert api.count() == 7
    forced = wait_for_run(queue(enrichment, force=True), worker=celery_worker)
    assert forced.total == 10


def test_a_storm_of_429s_and_500s_ends_with_every_row_done_or_a_clear_error(
    celery_worker, leads, api, make_enrichment
) -> None:
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def stormy(request: RecordedRequest) -> Reply:
        row = request.query["n"][-1]
        with lock:
            calls[row] += 1
            attempt = calls[row]
        if row in {"2", "5"}:
            return Reply.json({"error": "down"}, status=500)
        if attempt <= 1 + int(row) % 3:  # one to three 429s before each answer
            return Reply.json({"error": "slow down"}, status=429, headers={"Retry-After": "0"})
        return Reply.json({"ok": True})

    api.route("/", stormy)
    enrichment = make_enrichment(
        leads,
        request={
            "endpoint": api.url("/"),
            "query": {"n": "{{ row.n }}"},
            "retry": {"attempts": 6, "backoff_s": 0.01, "max_backoff_s": 0.02},
        },
    )

    wait_for_run(queue(enrichment), worker=celery_worker)

    by_row = {cell.row.values["n"]: cell for cell in cells(enrichment)}
    for n, cell in by_row.items():
        if n in {"2", "5"}:
            assert cell.status == "error"
            assert cell.error == "The API answered 500 Internal Server Error."
        else:
            assert cell.status == "done", (n, cell.error)


def test_cancel_stops_new_calls(celery_worker, leads, api, make_enrichment) -> None:
    api.route("/", sleep_then(0.4, json_reply({"ok": True})))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/?n={{ row.n }}")})
    run = queue(enrichment)
    deadline = time.monotonic() + 30
    while api.count() < 2:
        assert time.monotonic() < deadline, celery_worker.log()
        time.sleep(0.02)

    run_cancel(run=run)
    started_by_then = api.count()
    time.sleep(1.5)

    assert api.count() <= started_by_then + 4  # only calls already in flight (4 threads)
    run.refresh_from_db()
    assert run.status == "cancelled"
    statuses = [cell.status for cell in cells(enrichment)]
    assert statuses.count("cancelled") >= 10 - api.count()
    assert "pending" not in statuses and "running" not in statuses


def test_two_columns_running_on_the_same_rows_keep_each_others_results(
    celery_worker, leads, api, make_enrichment
) -> None:
    api.route("/a", sleep_then(0.05, json_reply({"from": "a"})))
    api.route("/b", sleep_then(0.05, json_reply({"from": "b"})))
    first = make_enrichment(leads, label="A", request={"endpoint": api.url("/a?{{ row.n }}")})
    second = make_enrichment(leads, label="B", request={"endpoint": api.url("/b?{{ row.n }}")})

    runs = [queue(first), queue(second)]
    for run in runs:
        wait_for_run(run, worker=celery_worker)

    for row in Row.objects.filter(table=leads):
        values = dict(CellResult.objects.filter(row=row).values_list("column_id", "value"))
        assert values == {first.pk: {"from": "a"}, second.pk: {"from": "b"}}
