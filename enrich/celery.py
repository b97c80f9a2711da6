"""The Celery app: reliable defaults for short, I/O-bound tasks that each call one HTTP API.

Delivery is at-least-once: a task is acknowledged after it ran (``acks_late``) and given back
to the queue when its worker dies, so every task must be idempotent (the cell pipeline guards
its writes by run and attempt). The default pool is threads: the work is waiting on sockets.
The thread pool cannot interrupt a running task, so time limits apply to the prefork pool;
with threads, every HTTP call carries its own timeout and a task stays well under them.
"""

from __future__ import annotations

import os
import sys

from celery import Celery
from celery.signals import task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enrich.settings")

app = Celery("enrich")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    # A task cut off by a lost broker connection is redelivered (acks_late); cancel ours.
    worker_cancel_long_running_tasks_on_connection_loss=True,
)
# Celery's Django fixup closes the database connection around every task unless told to
# reuse it: a new PostgreSQL connection per cell cost more than the cell's own queries. A
# thread's connection is closed after this many tasks (and still honours CONN_MAX_AGE and
# the health checks when it is reused).
app.conf.CELERY_DB_REUSE_MAX = 200


@task_prerun.connect
def _drop_unusable_connections(**_: object) -> None:
    """A reused connection that broke or outlived CONN_MAX_AGE is replaced before the task."""
    close_old_connections()


app.autodiscover_tasks()


def worker_command(
    *,
    queue: str,
    concurrency: int,
    pool: str = "threads",
    hostname: str = "",
    loglevel: str = "INFO",
    standalone: bool = False,
) -> list[str]:
    """The command line of a worker of this app on ``queue``. ``standalone`` skips the
    start-up chatter with other workers (tests and benchmarks start their own)."""
    command = [
        sys.executable, "-m", "celery", "-A", "enrich", "worker",
        "--pool", pool, "--concurrency", str(concurrency), "--queues", queue,
        "--loglevel", loglevel,
    ]  # fmt: skip
    if hostname:
        command += ["--hostname", hostname]
    if standalone:
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return command
