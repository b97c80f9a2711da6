"""Recovery from faults: how much a kill -9 or a Redis restart delays a run, with defaults.

    python benchmarks/recovery.py [--rows 2000] [--workers 2] [--threads 16]

Needs PostgreSQL on 127.0.0.1:5432 (a throw-away database) and ``redis-server`` (a private
one on a free port, without persistence, so a restart empties it). Each scenario runs a new
column over every row against a local API answering after 50 ms, on real workers with the
default settings, and injects one fault:

- a worker killed (SIGKILL) mid-run, the planner killed while it plans (each started again at
  once, as a supervisor would), Redis restarted empty mid-run and while the run is planned.

It prints the run's duration, the delay the fault added to it (duration minus the mean
duration of the same run without a fault, measured first and last), the time from the fault
to the end, and the cells lost (not done) and written twice.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._services import drop_database, reachable, recreate_database  # noqa: E402

BENCH_DB = "enrich_bench_recovery"
LATENCY_S = 0.05


class Worker:
    """A worker process with the default settings; notes whether it took a planning task."""

    def __init__(self, number: int, threads: int) -> None:
        from enrich.celery import worker_command

        self.planned: set[int] = set()
        self.process = subprocess.Popen(
            worker_command(
                queue=os.environ["ENRICH_TASK_QUEUE"],
                concurrency=threads,
                hostname=f"recovery{number}.{uuid.uuid4().hex[:4]}@%h",
                loglevel="INFO",
                standalone=True,
            ),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        if not self.ready.wait(60):
            raise RuntimeError("a worker did not start")

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if " ready." in line:
                self.ready.set()
            elif "enrichment.plan_run" in line and " received" in line:
                self.planned.add(int(time.time()))
            elif "CRITICAL" in line:
                print(f"    worker: {line.strip()}", flush=True)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="Worker processes.")
    parser.add_argument("--threads", type=int, default=16, help="Threads per worker.")
    args = parser.parse_args()
    if not reachable(5432) or not shutil.which("redis-server"):
        print("needs PostgreSQL on 127.0.0.1:5432 and redis-server: skipped")
        return

    from tests.redis_server import PrivateRedis

    var_dir = tempfile.mkdtemp(prefix="enrich-bench-recovery-")
    redis_server = PrivateRedis(Path(var_dir))
    redis_server.start()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="enrich.settings",
        ENRICH_VAR_DIR=var_dir,
        ENRICH_TASK_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
        ENRICH_ALLOWED_NETWORKS="127.0.0.0/8",
        LOG_LEVEL="WARNING",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        REDIS_URL=redis_server.url,
    )
    for knob in ("ENRICH_CELL_LEASE_S", "ENRICH_HEARTBEAT_S", "ENRICH_SWEEP_S",
                 "ENRICH_PLAN_LEASE_S", "ENRICH_REQUEUE_AFTER_S", "CELERY_BROKER_URL"):  # fmt: skip
        os.environ.pop(knob, None)  # the defaults are what is measured
    recreate_database(BENCH_DB)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Count, Q

    from accounts.workspaces import user_sign_up
    from enrich.columns import column_add
    from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
    from enrich.enrichment.models import CellResult, Run
    from enrich.enrichment.runs import run_queue
    from enrich.rows import rows_insert
    from enrich.tables import table_create
    from tests.servers import LocalServer, json_reply, sleep_then

    call_command("migrate", verbosity=0)
    print(
        f"PostgreSQL + private Redis (no persistence); {args.rows:,} rows; "
        f"{args.workers} workers x {args.threads} threads; API {LATENCY_S * 1000:.0f} ms; "
        f"lease {settings.ENRICH_CELL_LEASE_S} s, heartbeat {settings.ENRICH_HEARTBEAT_S} s, "
        f"sweep {settings.ENRICH_SWEEP_S} s, plan lease {settings.ENRICH_PLAN_LEASE_S} s, "
        f"requeue after {settings.ENRICH_REQUEUE_AFTER_S} s",
        flush=True,
    )
    workers: list[Worker] = []
    with LocalServer() as api:
        api.route("/person", sleep_then(LATENCY_S, json_reply({"ok": True})))
        workspace = user_sign_up(
            username=f"bench-{uuid.uuid4().hex[:6]}", email="", password="bench pass phrase 1",
            workspace_name="Bench",
        )  # fmt: skip
        table = table_create(workspace=workspace, name="Leads", created_by=None)
        email = column_add(table=table, label="Email")
        rows_insert(
            table=table,
            rows=({email.key: f"lead{n}@example.test"} for n in range(args.rows)),
            start_position=0,
        )
        workers = [Worker(number, args.threads) for number in range(args.workers)]
        time.sleep(3)  # workers connect and make their first sweep

        def one_run(label: str, fault: Callable[[Run], float] | None) -> tuple[float, float]:
            """Run a new column over every row; ``fault`` waits for its moment, strikes and
            returns when. Returns the run's duration and the time from the fault to its end."""
            enrichment = enrichment_column_create(
                table=table,
                label=label,
                spec=EnrichmentSpec(
                    request={"endpoint": api.url("/person"), "query": {"email": "{{ row.email }}"}}
                ),
            )
            started = time.monotonic()
            with transaction.atomic():
                run = run_queue(enrichment=enrichment)
            struck = fault(run) if fault else started
            while True:
                run.refresh_from_db()
                if not run.is_active:
                    break
                if time.monotonic() - started > 600:
                    raise RuntimeError(f"{label}: the run did not end within 600 s")
                time.sleep(0.1)
            ended = time.monotonic()
            counts = CellResult.objects.filter(column=enrichment).aggregate(
                done=Count("pk", filter=Q(status="done")),
                twice=Count("pk", filter=Q(writes__gt=1)),
            )
            lost = args.rows - counts["done"]
            one_run.figures.append((label, ended - started, ended - struck, lost, counts["twice"]))
            return ended - started, ended - struck

        one_run.figures = []  # type: ignore[attr-defined]

        def wait_for(condition: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 120
            while not condition():
                if time.monotonic() > deadline:
                    raise RuntimeError("the moment to strike never came")
                time.sleep(0.01)

        def running_a_third(run: Run) -> None:
            wait_for(
                lambda: CellResult.objects.filter(run=run, status="done").count() > args.rows // 3
            )

        def planning(run: Run) -> None:
            wait_for(
                lambda: Run.objects.filter(
                    pk=run.pk, status=Run.Status.PLANNING, plan_row__isnull=False
                ).exists()
            )

        def kill_a_worker(run: Run) -> float:
            running_a_third(run)
            victim = workers.pop(0)
            victim.kill()
            struck = time.monotonic()
            workers.append(Worker(len(workers) + 10, args.threads))  # the supervisor
            return struck

        def kill_the_planner(run: Run) -> float:
            planning(run)
            now = int(time.time())
            planner = max(workers, key=lambda worker: max(worker.planned, default=0))
            assert planner.planned and max(planner.planned) >= now - 60, "planner not found"
            workers.remove(planner)
            planner.kill()
            struck = time.monotonic()
            workers.append(Worker(len(workers) + 20, args.threads))
            return struck

        def restart_redis_running(run: Run) -> float:
            running_a_third(run)
            redis_server.kill()
            struck = time.monotonic()
            redis_server.start()
            return struck

        def restart_redis_planning(run: Run) -> float:
            planning(run)
            redis_server.kill()
            struck = time.monotonic()
            redis_server.start()
            return struck

        try:
            baseline = [one_run("no fault", None)[0]]
            for label, fault in (
                ("kill -9 of a worker mid-run", kill_a_worker),
                ("kill -9 of the planner", kill_the_planner),
                ("Redis restarted empty mid-run", restart_redis_running),
                ("Redis restarted empty while planning", restart_redis_planning),
            ):
                one_run(label, fault)
                time.sleep(2)
            baseline.append(one_run("no fault, again", None)[0])  # the machine's drift
        finally:
            for worker in workers:
                worker.stop()
            connection.close()
            drop_database(BENCH_DB)
            redis_server.kill()
            shutil.rmtree(var_dir, ignore_errors=True)

    normal = sum(baseline) / len(baseline)
    print(f"normal duration (mean of the runs without a fault): {normal:.1f} s")
    print(f"{'scenario':40} {'run':>7} {'delay':>7} {'fault→end':>10} {'lost':>5} {'twice':>6}")
    for label, duration, after_fault, lost, twice in one_run.figures:  # type: ignore[attr-defined]
        delay = duration - normal
        print(
            f"{label:40} {duration:6.1f}s {delay:+6.1f}s {after_fault:9.1f}s {lost:5d} {twice:6d}"
        )


if __name__ == "__main__":
    main()
