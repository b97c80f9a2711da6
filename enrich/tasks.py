"""Celery tasks. Each takes ids, calls one service and returns (thin tasks)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from enrich import csv_import, health


@shared_task(name="enrich.heartbeat", ignore_result=True)
def heartbeat_task() -> None:
    """Record that a worker is alive; the status shown in the app footer and ``/health/``."""
    from celery import current_task

    health.heartbeat_record(hostname=current_task.request.hostname or "worker")


@worker_ready.connect
def record_ready_worker(sender: object, **_: object) -> None:
    """A worker that has just started counts as alive before it runs any task."""
    health.heartbeat_record(hostname=getattr(sender, "hostname", None) or "worker")


@shared_task(name="enrich.csv_import", ignore_result=True)
def csv_import_task(job_id: int) -> None:
    """Import a queued CSV file; the job row carries progress and the outcome. Then clear
    what abandoned uploads left behind (cheap, and no scheduler is needed for it)."""
    csv_import.import_run(job_id=job_id)
    csv_import.imports_cleanup()
