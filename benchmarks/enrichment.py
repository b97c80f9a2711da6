"""Enrichment throughput: a JWT-token-endpoint column over N rows on real workers, against a
plain asyncio httpx loop making the same calls at the same concurrency, in one run.

    python benchmarks/enrichment.py [--rows 10000] [--workers 2] [--threads 16]

Uses PostgreSQL and Redis when they answer on 127.0.0.1 (a throw-away database and Redis
database), else SQLite and the filesystem broker, and says which. The API answers after 50 ms
and accepts only the JWT its token endpoint issued; the token endpoint counts its calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._services import drop_database, reachable, recreate_database  # noqa: E402

BENCH_DB = "enrich_bench_enrichment"
REDIS_URL = "redis://127.0.0.1:6379/14"
LATENCY_S = 0.05


def configure(services: bool, var_dir: str) -> None:
    """Environment for Django and the workers, set before anything reads settings."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="enrich.settings",
        ENRICH_VAR_DIR=var_dir,
        ENRICH_TASK_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
        ENRICH_ALLOWED_NETWORKS="127.0.0.0/8",
        LOG_LEVEL="WARNING",
    )
    if services:
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
        os.environ["REDIS_URL"] = REDIS_URL
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)


def start_workers(count: int, threads: int) -> list[subprocess.Popen[bytes]]:
    from enrich.celery import worker_command

    workers = []
    for number in range(count):
        workers.append(
            subprocess.Popen(
                worker_command(
                    queue=os.environ["ENRICH_TASK_QUEUE"],
                    concurrency=threads,
                    hostname=f"bench{number}@%h",
                    loglevel="WARNING",
                    standalone=True,
                ),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return workers


async def plain_loop(urls: list[str], token: str, concurrency: int) -> float:
    """The baseline: the same GETs with asyncio and httpx, ``concurrency`` at a time."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        limits=limits, headers={"Authorization": f"Bearer {token}"}
    ) as client:

        async def one(url: str) -> None:
            async with gate:
                response = await client.get(url)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="Worker processes.")
    parser.add_argument("--threads", type=int, default=16, help="Threads per worker.")
    args = parser.parse_args()
    concurrency = args.workers * args.threads

    services = reachable(5432) and reachable(6379)
    var_dir = tempfile.mkdtemp(prefix="enrich-bench-")
    configure(services, var_dir)
    if services:
        recreate_database(BENCH_DB)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.connection_accounts import account_create
    from accounts.workspaces import user_sign_up
    from enrich.columns import column_add
    from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
    from enrich.enrichment.models import CellResult
    from enrich.enrichment.runs import run_progress, run_queue
    from enrich.rows import rows_insert
    from enrich.tables import table_create
    from tests.servers import LocalServer, json_reply, sleep_then
    from tests.token_servers import TokenIssuer

    call_command("migrate", verbosity=0)
    mode = (
        "PostgreSQL + Redis" if services else "SQLite + filesystem broker (services not reachable)"
    )
    print(f"mode: {mode}; {args.rows:,} rows; {args.workers} workers x {args.threads} threads")

    issuer = TokenIssuer(lifetime_s=3600, jwt_tokens=True)
    workers: list[subprocess.Popen[bytes]] = []
    with LocalServer() as api, LocalServer() as auth:
        auth.route("/login", issuer.password_endpoint(username="bench", password="bench-password"))
        api.route("/person", issuer.protected(sleep_then(LATENCY_S, json_reply({"ok": True}))))

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
        account = account_create(
            workspace=workspace, name="Login", auth_type="jwt_token_endpoint",
            fields={"token_endpoint": auth.url("/login"), "username": "bench",
                    "password": "bench-password"},
        ).account  # fmt: skip
        enrichment = enrichment_column_create(
            table=table,
            label="Person",
            spec=EnrichmentSpec(
                request={"endpoint": api.url("/person"), "query": {"email": "{{ row.email }}"}},
                account=account,
                token_fields={"token_location": "access_token"},
            ),
        )
        workers = start_workers(args.workers, args.threads)
        try:
            time.sleep(3)  # workers connect
            started = time.perf_counter()
            with transaction.atomic():
                run = run_queue(enrichment=enrichment)
            while True:
                run.refresh_from_db()
                progress = run_progress(run=run)
                if not run.is_active:
                    break
                time.sleep(0.25)
            enrich_s = time.perf_counter() - started
            done = CellResult.objects.filter(column=enrichment, status="done").count()
            token_fetches = auth.count("/login")
            errors = progress.error
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=30)

        token = issuer.issue()
        urls = [api.url(f"/person?email=lead{n}%40example.test") for n in range(args.rows)]
        plain_s = asyncio.run(plain_loop(urls, token, concurrency))

    connection.close()
    if services:
        drop_database(BENCH_DB)
    enrich_rate = args.rows / enrich_s
    plain_rate = args.rows / plain_s
    ideal = concurrency / LATENCY_S
    print(f"API latency {LATENCY_S * 1000:.0f} ms, concurrency {concurrency}", end="")
    print(f" (ideal {ideal:,.0f} rows/s)")
    print(
        f"Enrich column (queue → all cells written): {enrich_rate:8,.1f} rows/s  ({enrich_s:.1f} s)"
    )
    print(
        f"plain asyncio httpx loop:                  {plain_rate:8,.1f} rows/s  ({plain_s:.1f} s)"
    )
    print(f"ratio Enrich / plain: {enrich_rate / plain_rate:.2f}")
    print(f"cells done: {done:,}, errors: {errors:,}, token fetches: {token_fetches}")


if __name__ == "__main__":
    main()
