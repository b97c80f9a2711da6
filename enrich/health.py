"""Is the system alive? The database answers and a worker has checked in recently.

Workers check in on their own timer every ``ENRICH_HEARTBEAT_S`` (``enrich.enrichment.heartbeat``),
so a worker that runs is always "seen", whether or not anyone opens a page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from enrich.models import WorkerHeartbeat

WORKER_FRESH_FOR = timedelta(minutes=2)


@dataclass(frozen=True)
class Health:
    database_ok: bool
    worker_seen_at: datetime | None

    @property
    def worker_ok(self) -> bool:
        return self.worker_seen_at is not None and (
            timezone.now() - self.worker_seen_at < WORKER_FRESH_FOR
        )


def heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Note that the worker ``hostname`` is alive now."""
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"seen_at": timezone.now()}
    )
    return heartbeat


def health_check() -> Health:
    """Ask the database a trivial question and read the freshest worker heartbeat."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        database_ok = cursor.fetchone() == (1,)
    latest = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    return Health(database_ok=database_ok, worker_seen_at=latest)
