"""What each auth type costs per request, and how many token fetches a run makes, in one run.

Starts a local API and its token endpoints (OAuth client credentials, RFC 7523 JWT bearer,
a password login) in a separate process on 127.0.0.1, then sends N requests at concurrency C
through ``connectors.Engine`` for: no auth (the baseline), each token type (one shared auth
object, as a ``--repeat`` run of the CLI uses), and a JWT signed per request (RS256, ES256,
HS256). The token types run once more with the token cache in Redis, to show what the shared
cache costs. For each contender it prints req/s, the wall-clock and client-CPU overhead per
request against no auth, and the token fetches the token endpoint counted (expect 1).

    python benchmarks/auth.py [--n 2000] [--concurrency 32] [--rounds 2]
                              [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from connectors import Engine, NetworkPolicy, RequestConfig, TemplateContext
from connectors.auth import (
    AuthOptions,
    CredentialAuth,
    InMemoryTokenStore,
    RedisTokenStore,
    TokenCache,
    auth_types,
)

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-client-secret"
USERNAME, PASSWORD = "bench-user", "bench-password"
HMAC_SECRET = "bench-hmac-secret-of-at-least-32-bytes!"


def serve(rsa_pem: str) -> None:
    """Run the API and token endpoints until killed; print the port on the first line."""
    from jwcrypto import jwk

    import tests.servers
    from tests.servers import LocalServer, RecordedRequest, Reply, json_reply
    from tests.token_servers import TokenIssuer

    # 32 keep-alive connections open at once: the default listen backlog of 5 would drop SYNs
    # during warm-up and add one-second retransmits.
    tests.servers._Server.request_queue_size = 128
    issuer = TokenIssuer(lifetime_s=3600)
    verifying_key = jwk.JWK(**json.loads(jwk.JWK.from_pem(rsa_pem.encode()).export_public()))
    server = LocalServer(max_lifetime_s=3600).start()
    server.route("/open", json_reply({"data": {"name": "Ada"}}))
    # Issued tokens are checked (a dict lookup); signed JWTs only for presence, so the server
    # costs the same for every contender and the difference is the client's.
    server.route("/token-api", issuer.protected(json_reply({"data": {"name": "Ada"}})))

    def jwt_api(request: RecordedRequest) -> Reply:
        if not (request.header("authorization") or "").startswith("Bearer ey"):
            return Reply.json({"error": "invalid_token"}, status=401)
        return Reply.json({"data": {"name": "Ada"}})

    server.route("/jwt-api", jwt_api)
    server.route(
        "/oauth/token", issuer.oauth_endpoint(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    )
    server.route(
        "/oauth/jwt-bearer",
        issuer.jwt_bearer_endpoint(verifying_key=verifying_key, algorithm="RS256"),
    )
    server.route("/login", issuer.password_endpoint(username=USERNAME, password=PASSWORD))
    server.route(
        "/stats",
        lambda request: Reply.json(
            {path: server.count(path) for path in ("/oauth/token", "/oauth/jwt-bearer", "/login")}
        ),
    )
    print(server.port, flush=True)
    while True:
        time.sleep(3600)


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class Contender:
    name: str
    path: str
    auth: dict[str, Any] | None
    token_path: str | None = None
    store: str = "memory"
    runs: list[tuple[float, float, int]] = field(default_factory=list)  # (s, cpu s, failed)
    fetches: list[int] = field(default_factory=list)


def contenders(origin: str, rsa_pem: str, redis_url: str | None) -> list[Contender]:
    jwt_claims = {"sub": "{{ row.email }}", "iat": "{{ now() }}", "exp": "{{ now(300) }}"}
    token_types = [
        Contender(
            "oauth_client_credentials",
            "/token-api",
            {"type": "oauth_client_credentials", "client_id": CLIENT_ID,
             "client_secret": CLIENT_SECRET, "token_url": origin + "/oauth/token"},
            "/oauth/token",
        ),
        Contender(
            "oauth_jwt_bearer (RS256)",
            "/token-api",
            {"type": "oauth_jwt_bearer", "client_id": CLIENT_ID, "private_key": rsa_pem,
             "algorithm": "RS256", "token_url": origin + "/oauth/jwt-bearer",
             "subject": "ada@example.test", "audience": origin + "/oauth/jwt-bearer"},
            "/oauth/jwt-bearer",
        ),
        Contender(
            "jwt_token_endpoint",
            "/token-api",
            {"type": "jwt_token_endpoint", "token_endpoint": origin + "/login",
             "username": USERNAME, "password": PASSWORD},
            "/login",
        ),
    ]  # fmt: skip
    keys = {
        "RS256": rsa_pem,
        "ES256": pem(ec.generate_private_key(ec.SECP256R1())),
        "HS256": HMAC_SECRET,
    }
    signed = [
        Contender(
            f"jwt {algorithm} (per request)",
            "/jwt-api",
            {"type": "jwt", "private_key": key, "algorithm": algorithm, "claims": jwt_claims},
        )
        for algorithm, key in keys.items()
    ]
    shared = [
        Contender(c.name + " [redis]", c.path, c.auth, c.token_path, store="redis")
        for c in token_types
        if redis_url
    ]
    return [Contender("none (baseline)", "/open", None), *token_types, *signed, *shared]


def build_auth(
    contender: Contender, engine: Engine, redis_url: str | None, prefix: str
) -> CredentialAuth | None:
    """A fresh auth object with an empty token cache: its first request fetches the token."""
    if contender.auth is None:
        return None
    if contender.store == "redis":
        assert redis_url is not None
        # A new prefix per round: each round starts from an empty shared cache.
        store: Any = RedisTokenStore.from_url(redis_url, prefix=f"{prefix}{uuid.uuid4().hex}:")
    else:
        store = InMemoryTokenStore()
    options = AuthOptions(token_cache=TokenCache(store), http_client=engine.client)
    context = TemplateContext(row={"email": "ada@example.test"})
    return auth_types.build(contender.auth, context=context, options=options)


def rate(n: int, concurrency: int, one: Callable[[int], bool]) -> tuple[float, float, int]:
    """Seconds and client CPU seconds for ``n`` calls of ``one`` over ``concurrency`` threads,
    and how many failed."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        started, cpu = time.perf_counter(), time.process_time()
        outcomes = list(pool.map(one, range(n)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return elapsed, cpu, outcomes.count(False)


def token_counts(origin: str) -> dict[str, int]:
    return httpx.get(origin + "/stats", trust_env=False).json()


def measure(
    contender: Contender,
    *,
    origin: str,
    engine: Engine,
    args: argparse.Namespace,
    prefix: str,
) -> None:
    auth = build_auth(contender, engine, args.redis, prefix)
    config = RequestConfig(endpoint=origin + contender.path, field_paths="data.name")
    context = TemplateContext(row={"email": "ada@example.test"})

    def one(_: int) -> bool:
        result = engine.send(config, context=context, auth=auth)
        return result.ok and result.value == "Ada"

    before = token_counts(origin)
    rate(args.concurrency * 2, args.concurrency, one)  # warm the pool; fetches the token
    contender.runs.append(rate(args.n, args.concurrency, one))
    if contender.token_path:
        contender.fetches.append(
            token_counts(origin)[contender.token_path] - before[contender.token_path]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="requests per contender and round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternate the contenders this many times"
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/0",
        help="Redis for the shared-cache round (keys under a unique prefix, deleted after); "
        "empty to skip",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(sys.stdin.read())  # the RSA key the JWT-bearer endpoint verifies assertions with
        return

    rsa_pem = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    redis_client = None
    prefix = f"enrich-bench:{uuid.uuid4().hex}:"
    if args.redis:
        import redis

        try:
            redis_client = redis.Redis.from_url(args.redis)
            redis_client.ping()
        except redis.RedisError as exc:
            print(f"(Redis at {args.redis} not reachable, shared-cache round skipped: {exc})")
            args.redis, redis_client = None, None

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(rsa_pem)
        server.stdin.close()
        origin = f"http://127.0.0.1:{int(server.stdout.readline())}"
        engine = Engine(network_policy=NetworkPolicy.allowing("127.0.0.0/8"))
        everyone = contenders(origin, rsa_pem, args.redis)
        # Alternating rounds, best of each: on a shared machine, neighbours' load comes and goes.
        for _ in range(args.rounds):
            for contender in everyone:
                measure(contender, origin=origin, engine=engine, args=args, prefix=prefix)
    finally:
        server.kill()
        server.wait()
        if redis_client is not None:
            stale = list(redis_client.scan_iter(match=prefix + "*"))
            if stale:
                redis_client.delete(*stale)

    report(everyone, args)


def report(everyone: list[Contender], args: argparse.Namespace) -> None:
    print(
        f"requests: {args.n} per contender and round, concurrency {args.concurrency}, "
        f"best of {args.rounds} rounds; API and token endpoints in another process"
    )
    baseline = everyone[0]
    base_s = min(s for s, _, _ in baseline.runs)
    base_cpu = min(cpu for _, cpu, _ in baseline.runs)
    print(
        f"{'auth type':<36} {'req/s':>8} {'+ms/req':>8} {'+cpu ms/req':>12} "
        f"{'fetches':>8} {'failed':>7}"
    )
    for contender in everyone:
        best_s = min(s for s, _, _ in contender.runs)
        best_cpu = min(cpu for _, cpu, _ in contender.runs)
        failed = sum(f for _, _, f in contender.runs)
        # Wall-clock overhead per request at this concurrency, and the client CPU it costs.
        extra_ms = (best_s - base_s) / args.n * 1000
        extra_cpu_ms = (best_cpu - base_cpu) / args.n * 1000
        fetches = "/".join(map(str, contender.fetches)) if contender.fetches else "-"
        print(
            f"{contender.name:<36} {args.n / best_s:8.1f} {extra_ms:+8.3f} {extra_cpu_ms:+12.3f} "
            f"{fetches:>8} {failed:>7}"
        )
    print(
        "fetches: token requests the endpoint counted per round (warm-up included; expect 1). "
        "+ms/req: wall-clock per request vs none; +cpu ms/req: client CPU per request vs none."
    )


if __name__ == "__main__":
    main()
