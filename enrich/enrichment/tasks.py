"""Celery tasks of enrichment runs: ids in, one service call, nothing else (thin tasks)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_process_init, worker_ready

from enrich.enrichment import heartbeat, pipeline, runs


@shared_task(name="enrichment.plan_run", ignore_result=True)
def plan_run_task(run_id: int) -> None:
    """Choose a run's cells and queue one task per row (resumes a stalled plan)."""
    runs.run_plan(run_id=run_id)


@shared_task(name="enrichment.enrich_cell", ignore_result=True)
def enrich_cell_task(run_id: int, row_id: int) -> str:
    """Run one enrichment cell (safe to deliver twice)."""
    return pipeline.enrich_cell(run_id=run_id, row_id=row_id)


@worker_ready.connect
def start_worker_timer(sender: object, **_: object) -> None:
    """A worker renews its leases, reports itself alive and sweeps on its own timer; its first
    sweep at start picks up what a worker that died left behind."""
    heartbeat.start(hostname=getattr(sender, "hostname", None) or "worker")


@worker_process_init.connect
def start_child_timer(**_: object) -> None:
    """A prefork child runs cells too: it renews their leases (the parent sweeps)."""
    heartbeat.start(hostname="prefork-child", sweeps=False)
