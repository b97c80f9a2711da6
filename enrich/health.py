"""Is the system alive? The database answers and a worker has checked in recently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from enrich.models import WorkerHeartbeat

WORKER_FRESH_FOR = timedelta(minutes=2)
PING_EVERY_S = 30


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


def worker_ping() -> None:
    """Ask a worker to check in, at most once every ``PING_EVERY_S`` seconds per cache."""
    from enrich.tasks import heartbeat_task

    if cache.add("enrich:worker-ping", 1, timeout=PING_EVERY_S):
        heartbeat_task.delay()
