"""A real Celery worker process takes a task from the configured broker and writes to the DB."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from enrich.celery import app
from enrich.models import WorkerHeartbeat
from enrich.tasks import heartbeat_task


def expected_transport() -> str:
    return "redis" if settings.CELERY_BROKER_URL.startswith("redis") else "filesystem"


def test_the_broker_is_the_one_the_environment_chose() -> None:
    with app.connection_for_write() as connection:
        assert connection.transport.driver_type == expected_transport()


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_takes_a_task_and_writes_to_the_database(celery_worker) -> None:
    WorkerHeartbeat.objects.all().delete()

    heartbeat_task.delay()

    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.exists():
        assert celery_worker.process.poll() is None, celery_worker.log()
        assert time.monotonic() < deadline, f"no heartbeat written:\n{celery_worker.log()}"
        time.sleep(0.1)
    heartbeat = WorkerHeartbeat.objects.get()
    assert heartbeat.hostname.startswith(celery_worker.queue + ".")
    assert "enrich.heartbeat" in celery_worker.log()
