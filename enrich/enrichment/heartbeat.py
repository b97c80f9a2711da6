"""Each worker's own timer, a thread started with the worker: nothing waits for a watcher.

Every ``ENRICH_HEARTBEAT_S`` it renews the leases of the cells this process runs and of the
runs it plans (one UPDATE each, none when it holds nothing), and notes that the worker is
alive (the home page and ``/health/``); every ``ENRICH_SWEEP_S`` it offers to sweep, which one
worker at a time does (``sweeper``). A failing database or broker costs a tick, never the
thread: it logs and tries again at the next one.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from enrich import health
from enrich.enrichment import pipeline, runs, sweeper

logger = logging.getLogger(__name__)


class WorkerTimer(threading.Thread):
    """Renew leases, record the heartbeat and sweep on a timer, until ``stop``."""

    def __init__(self, *, hostname: str, sweeps: bool = True) -> None:
        super().__init__(name="enrich-worker-timer", daemon=True)
        self.hostname = hostname
        self.sweeps = sweeps
        self._stopped = threading.Event()

    def run(self) -> None:
        next_beat = next_sweep = time.monotonic()
        while not self._stopped.is_set():
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + settings.ENRICH_HEARTBEAT_S
                self._guarded(self.beat)
            if self.sweeps and now >= next_sweep:
                next_sweep = now + settings.ENRICH_SWEEP_S
                self._guarded(lambda: sweeper.sweep(holder=self.hostname))
            due = min(next_beat, next_sweep) if self.sweeps else next_beat
            self._stopped.wait(max(0.05, due - time.monotonic()))

    def beat(self) -> None:
        pipeline.renew_leases()
        # A planner slowed by the database or the broker keeps its run: only a dead one's
        # lease runs out, so a live plan is never taken over and planned again and again.
        runs.renew_plan_leases()
        if self.sweeps:
            health.heartbeat_record(hostname=self.hostname)

    def stop(self) -> None:
        self._stopped.set()

    def _guarded(self, step) -> None:
        close_old_connections()
        try:
            step()
        except Exception:
            # The timer must outlive any one failure (database or broker down, a bug): its
            # next tick tries again, and a dead timer would silently stop the healing.
            logger.exception("The worker timer's step failed; trying again at the next tick")
        finally:
            close_old_connections()


_timer: WorkerTimer | None = None


def start(*, hostname: str, sweeps: bool = True) -> WorkerTimer:
    """Start this process's timer (once)."""
    global _timer
    if _timer is None or not _timer.is_alive():
        _timer = WorkerTimer(hostname=hostname, sweeps=sweeps)
        _timer.start()
    return _timer
