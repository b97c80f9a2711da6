"""Celery tasks of enrichment runs: ids in, one service call, nothing else (thin tasks)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from enrich.enrichment import pipeline, runs


@shared_task(name="enrichment.plan_run", ignore_result=True)
def plan_run_task(run_id: int) -> None:
    """Choose a run's cells and queue one task per row."""
    runs.run_plan(run_id=run_id)


@shared_task(name="enrichment.enrich_cell", ignore_result=True)
def enrich_cell_task(run_id: int, row_id: int) -> str:
    """Run one enrichment cell (safe to deliver twice)."""
    return pipeline.enrich_cell(run_id=run_id, row_id=row_id)


@worker_ready.connect
def pick_up_lost_cells(sender: object, **_: object) -> None:
    """A worker starting (perhaps after one died) sends again what was lost."""
    runs.reap_all_active()
