"""``manage.py start``: the web server and one Celery worker together; Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from enrich.celery import worker_command


class Command(BaseCommand):
    help = "Start the web server and one worker on this machine. Ctrl-C stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        # Fixed argument lists of our own programs; nothing here comes from a user.
        manage = [sys.executable, "manage.py"]
        web = subprocess.Popen([*manage, "runserver", f"{host}:{port}", "--noreload"])  # noqa: S603
        worker = subprocess.Popen(  # noqa: S603
            worker_command(
                queue=settings.CELERY_TASK_DEFAULT_QUEUE,
                concurrency=settings.CELERY_WORKER_CONCURRENCY,
                pool=settings.CELERY_WORKER_POOL,
            )
        )
        shown_host = f"[{host}]" if ":" in host else host
        self.stdout.write(
            self.style.SUCCESS(f"\nEnrich is running at http://{shown_host}:{port}/")
            + "\n(web server and one worker; press Ctrl-C to stop both)\n"
        )
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and web.poll() is None and worker.poll() is None:
            time.sleep(0.3)
        died = "web server" if web.poll() is not None else "worker"
        for process in (web, worker):
            if process.poll() is None:
                process.terminate()
        for process in (web, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if not stopping:
            self.stderr.write(f"The {died} stopped unexpectedly; stopped the other one too.")
            sys.exit(1)
        self.stdout.write("Stopped.")
