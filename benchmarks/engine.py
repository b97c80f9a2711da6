"""Request-engine throughput against a plain httpx loop, in one run.

Starts a local API (20 ms latency per request, threaded, HTTP/1.1 keep-alive) in a separate
process on 127.0.0.1, then sends N requests at concurrency C twice: through
``connectors.Engine`` (templated endpoint, query and header, SSRF guard, bounded reading,
field paths, debug record) and through a plain ``httpx.Client`` with the same connection limits
and thread pool. Prints both rates and their ratio.

    python benchmarks/engine.py [--n 5000] [--concurrency 32] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from connectors import Engine, NetworkPolicy, RequestConfig, TemplateContext
from connectors.transport import DEFAULT_LIMITS


def serve(latency_s: float) -> None:
    """Run the API until killed; print the port on the first line of stdout."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle's algorithm the second waits for the
        # client's delayed ACK (40 ms), which would dwarf everything measured here.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(latency_s)
            body = json.dumps({"data": {"name": "Ada", "path": self.path}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def rate(n: int, concurrency: int, one: Callable[[int], bool]) -> tuple[float, int]:
    """Requests per second for ``n`` calls of ``one`` over ``concurrency`` threads; failures."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        started = time.perf_counter()
        outcomes = list(pool.map(one, range(n)))
        elapsed = time.perf_counter() - started
    return n / elapsed, outcomes.count(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="requests per contender")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternate the contenders this many times"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency_ms / 1000)
        return

    api = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert api.stdout is not None
        origin = f"http://127.0.0.1:{int(api.stdout.readline())}"
        rows = [{"id": i, "name": f"person {i}"} for i in range(args.n)]

        plain = httpx.Client(limits=DEFAULT_LIMITS, trust_env=False)

        def plain_one(i: int) -> bool:
            row = rows[i]
            response = plain.get(
                f"{origin}/people/{row['id']}",
                params={"q": row["name"]},
                headers={"X-Request": str(row["id"])},
            )
            return response.status_code == 200 and response.json()["data"]["name"] == "Ada"

        engine = Engine(network_policy=NetworkPolicy.allowing("127.0.0.0/8"))
        config = RequestConfig(
            endpoint=origin + "/people/{{ row.id }}",
            query={"q": "{{ row.name }}"},
            headers={"X-Request": "{{ row.id }}"},
            field_paths="data.name",
        )

        def engine_one(i: int) -> bool:
            result = engine.send(config, context=TemplateContext(row=rows[i]))
            return result.ok and result.value == "Ada"

        # Warm both pools and the template cache before measuring.
        rate(args.concurrency * 2, args.concurrency, plain_one)
        rate(args.concurrency * 2, args.concurrency, engine_one)

        # Alternating rounds, best of each: on a shared machine, neighbours' load comes and goes.
        plain_runs, engine_runs = [], []
        for _ in range(args.rounds):
            plain_runs.append(rate(args.n, args.concurrency, plain_one))
            engine_runs.append(rate(args.n, args.concurrency, engine_one))
        plain.close()
    finally:
        api.kill()
        api.wait()

    ideal = args.concurrency / (args.latency_ms / 1000)
    print(
        f"requests: {args.n} per contender, concurrency {args.concurrency}, "
        f"API latency {args.latency_ms:g} ms (ideal {ideal:.0f} req/s)"
    )
    for name, runs in (("plain httpx loop ", plain_runs), ("connectors engine", engine_runs)):
        rates = ", ".join(f"{r:.1f}" for r, _ in runs)
        failed = sum(f for _, f in runs)
        print(
            f"{name}: best {max(r for r, _ in runs):7.1f} req/s  (rounds: {rates}; {failed} failed)"
        )
    best_plain = max(r for r, _ in plain_runs)
    best_engine = max(r for r, _ in engine_runs)
    print(f"ratio engine/plain: {best_engine / best_plain:.2f}")


if __name__ == "__main__":
    main()
