"""Fixtures of enrichment tests: a table of leads, local APIs, columns and waiting for runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db.models import Count

from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
from enrich.enrichment.dependencies import forget_graph
from enrich.enrichment.models import CellResult, EnrichmentColumn, Run
from enrich.enrichment.pipeline import forget_loaded_runs
from enrich.enrichment.runs import run_progress
from enrich.models import Table
from tests.servers import LocalServer

FAST_RETRY = {"attempts": 3, "backoff_s": 0.01, "max_backoff_s": 0.05}
#: Worker settings that make every recovery take seconds (the defaults take tens of seconds).
FAST_RECOVERY = {
    "ENRICH_CELL_LEASE_S": "3",
    "ENRICH_HEARTBEAT_S": "1",
    "ENRICH_SWEEP_S": "1",
    "ENRICH_PLAN_LEASE_S": "3",
    "ENRICH_REQUEUE_AFTER_S": "2",
}


@pytest.fixture(autouse=True)
def _fresh_run_cache() -> Iterator[None]:
    """Each test's database is rolled back, so run and table ids come again: no cached run
    or dependency graph may survive."""
    forget_loaded_runs()
    forget_graph()
    yield
    forget_loaded_runs()
    forget_graph()


@pytest.fixture
def api() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def leads(workspace, make_table) -> Table:
    """Ten leads with an email and a country; every third is outside the US."""
    rows = [
        {"email": f"lead{n}@example.test", "country": "US" if n % 3 else "FR", "n": str(n)}
        for n in range(10)
    ]
    return make_table(workspace, columns=("Email", "Country", "N"), rows=rows)


@pytest.fixture
def make_enrichment() -> Callable[..., EnrichmentColumn]:
    def make(table: Table, *, label: str = "Profile", request: dict[str, Any], **spec: Any):
        request = {"retry": FAST_RETRY, **request}
        return enrichment_column_create(
            table=table, label=label, spec=EnrichmentSpec(request=request, **spec)
        )

    return make


def wait_for_run(run: Run, *, worker=None, timeout: float = 60) -> Run:
    """Poll the run until it is over (the workers end it; this only watches)."""
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        run_progress(run=run)
        if not run.is_active:
            return run
        if worker is not None:
            assert worker.process.poll() is None, worker.log()
        if time.monotonic() > deadline:
            counts = list(CellResult.objects.filter(run=run).values_list("status", flat=True))
            log = worker.log() if worker is not None else ""
            raise AssertionError(f"run {run.pk} still {run.status}: {counts}\n{log}")
        time.sleep(0.1)


def cells(enrichment: EnrichmentColumn) -> list[CellResult]:
    return list(
        CellResult.objects.filter(column=enrichment).select_related("row").order_by("row__position")
    )


def wait_for_end(run: Run, *, timeout: float, workers=()) -> float:
    """Wait, reading the database only, until the run ended by itself; returns the seconds it
    took. Nobody polls its progress: the workers' writes and sweeps must end it."""
    started = time.monotonic()
    while True:
        run.refresh_from_db()
        if not run.is_active:
            return time.monotonic() - started
        for worker in workers:
            assert worker.process.poll() is None, f"a worker exited:\n{worker.log()}"
        if time.monotonic() - started > timeout:
            counts = dict(
                CellResult.objects.filter(run=run).values_list("status").annotate(n=Count("pk"))
            )
            logs = "\n".join(worker.log()[-6000:] for worker in workers)
            raise AssertionError(
                f"run {run.pk} still {run.status} after {timeout} s: {counts}\n{logs}"
            )
        time.sleep(0.1)
