"""Fixtures of enrichment tests: a table of leads, local APIs, columns and waiting for runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
from enrich.enrichment.models import CellResult, EnrichmentColumn, Run
from enrich.enrichment.pipeline import forget_loaded_runs
from enrich.enrichment.runs import run_progress
from enrich.models import Table
from tests.servers import LocalServer

FAST_RETRY = {"attempts": 3, "backoff_s": 0.01, "max_backoff_s": 0.05}


@pytest.fixture(autouse=True)
def _fresh_run_cache() -> Iterator[None]:
    """Each test's database is rolled back, so run ids come again: no cached run may survive."""
    forget_loaded_runs()
    yield
    forget_loaded_runs()


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
    """Poll the run's progress (which also picks up lost cells) until it is over."""
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
