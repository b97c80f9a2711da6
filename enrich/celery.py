"""The Celery app: reliable defaults for short, I/O-bound tasks that each call one HTTP API.

The database, not the broker, is the record of what is left to do: every cell and every plan
is a row with a state and a lease, and each worker's timer (``enrich.enrichment.heartbeat``)
sends again what a dead worker, a dead planner or a broker restarted empty lost. So a task may
arrive twice (it is idempotent: a cell is taken by one claim and written once) and the broker
may drop one (the sweeper notices). Tasks are acknowledged after they ran (``acks_late``) where
the transport keeps acknowledgements; on Redis it keeps none (see ``settings``).

The default pool is threads: the work is waiting on sockets. The thread pool cannot interrupt
a running task, so time limits apply to the prefork pool; with threads, every HTTP call carries
its own timeout and a task stays well under them.
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
    # A broker that restarts or is down for a while is waited for, never a reason to exit:
    # the worker reconnects forever (a supervisor would only start it into the same outage).
    broker_connection_retry_on_startup=True,
    broker_connection_retry=True,
    broker_connection_max_retries=None,
    # A task running when the broker connection drops finishes and writes its cell: the
    # broker would not deliver it again (no acknowledgements kept, see settings).
    worker_cancel_long_running_tasks_on_connection_loss=False,
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
