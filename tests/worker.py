"""Start and stop a real ``celery worker`` process for pipeline tests.

The worker runs Enrich's own settings with the test run's environment (its queue, its queue
folder or broker) and a ``DATABASE_URL`` that points at the test database, so what it writes
is what the test reads. No eager mode: tasks cross the broker.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

from enrich.celery import worker_command

ROOT = Path(__file__).resolve().parent.parent
_numbers = itertools.count(1)
READY_TIMEOUT_S = 60


def test_database_url() -> str:
    """The URL of the database the test run is using (pytest-django renamed it)."""
    current = connection.settings_dict
    if current["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(current['NAME']).resolve()}"
    base = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(base._replace(path="/" + quote(str(current["NAME"]))))


@dataclass
class WorkerProcess:
    process: subprocess.Popen[str]
    queue: str
    output: deque[str] = field(default_factory=lambda: deque(maxlen=400))

    def log(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def purge_test_queue() -> int:
    """Drop every message waiting in this test run's queue; returns how many there were."""
    from enrich.celery import app

    with app.connection_for_write() as connection:
        return int(connection.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE) or 0)


def start_worker(
    *, concurrency: int = 4, env: dict[str, str] | None = None, pool: str = "threads"
) -> WorkerProcess:
    """Start a worker and return once it consumes from the test queue; ``env`` adds variables
    (e.g. a short ``ENRICH_CELL_LEASE_S``)."""
    extra = env or {}
    env = os.environ.copy()
    env.update(extra)
    env["DATABASE_URL"] = test_database_url()
    env["DJANGO_SETTINGS_MODULE"] = "enrich.settings"
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    process = subprocess.Popen(
        worker_command(
            queue=queue,
            concurrency=concurrency,
            pool=pool,
            hostname=f"{queue}.{next(_numbers)}@%h",
            standalone=True,
        ),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker = WorkerProcess(process=process, queue=queue)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            worker.output.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=pump, name="celery-worker-output", daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"The Celery worker did not start:\n{worker.log()}")
    return worker
