"""``python -m connectors send FILE``: send one request without Django, like an httpie that knows
Enrich's config and auth types. Documented in ``docs/cli.md``.

Exit status: 0 when the request succeeded, 1 when it did not, 2 when the document or an option
is invalid (the message names the field).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.auth import AuthOptions, CredentialAuth, auth_types
from connectors.config import RequestConfig, describe_validation_error
from connectors.engine import Engine
from connectors.errors import ConfigError
from connectors.network import NetworkPolicy
from connectors.ratelimit import InMemoryRateLimitStore, RateLimitStore, RedisRateLimitStore
from connectors.result import Result
from connectors.templating import TemplateContext

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
_STORE_SCHEMES = ("memory", "redis", "rediss")


class SendDocument(BaseModel):
    """The JSON document ``send`` reads."""

    model_config = ConfigDict(extra="forbid")

    auth: dict[str, Any] = Field(default_factory=lambda: {"type": "none"})
    request: RequestConfig
    row: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)


def _store_url(option: str) -> Any:
    def parse(value: str) -> str:
        scheme = urlsplit(value).scheme or value
        if scheme not in _STORE_SCHEMES:
            raise argparse.ArgumentTypeError(
                f"{option} takes memory:// or a redis://host:port/db URL, not {value!r}"
            )
        if scheme != "memory" and not urlsplit(value).hostname:
            raise argparse.ArgumentTypeError(f"{option}: the Redis URL needs a host")
        return value

    return parse


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m connectors", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="send one request described by a JSON document")
    send.add_argument("file", metavar="FILE", help="the JSON document, or - for standard input")
    send.add_argument(
        "--allow-network",
        metavar="CIDR",
        action="append",
        default=[],
        help="also allow this private network (repeatable), e.g. 127.0.0.0/8",
    )
    send.add_argument("--repeat", metavar="N", type=int, default=1, help="send N times")
    send.add_argument(
        "--concurrency", metavar="C", type=int, default=1, help="over C threads (with --repeat)"
    )
    send.add_argument(
        "--token-store",
        metavar="URL",
        type=_store_url("--token-store"),
        default="memory://",
        help="where auth tokens are cached: memory:// (default) or redis://host:port/db",
    )
    send.add_argument(
        "--rate-limit-store",
        metavar="URL",
        type=_store_url("--rate-limit-store"),
        default="memory://",
        help="where rate-limit windows live: memory:// (default) or redis://host:port/db",
    )
    send.add_argument(
        "--rate-limit-key",
        metavar="KEY",
        default=None,
        help="share the rate limit under KEY (default: the endpoint's host, port and limit)",
    )
    return parser


def _print(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _invalid(message: str, out: TextIO, err: TextIO) -> int:
    err.write(f"invalid document: {message}\n")
    _print(
        {
            "ok": False,
            "status": None,
            "value": None,
            "error": message,
            "attempts": 0,
            "elapsed_ms": 0,
            "debug": None,
        },
        out,
    )
    return EXIT_INVALID


def _read_document(path: str, stdin: TextIO) -> Any:
    if path == "-":
        return json.loads(stdin.read())
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _rate_limit_store(url: str) -> RateLimitStore:
    if url.startswith("memory"):
        return InMemoryRateLimitStore()
    return RedisRateLimitStore.from_url(url)


def main(
    argv: list[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit status."""
    stdin, out, err = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    args = _build_parser().parse_args(argv)
    if args.repeat < 1 or args.concurrency < 1:
        return _invalid("--repeat and --concurrency must be at least 1", out, err)
    try:
        policy = NetworkPolicy.allowing(*args.allow_network)
        raw = _read_document(args.file, stdin)
    except ConfigError as exc:
        return _invalid(f"--allow-network: {exc.message}", out, err)
    except OSError as exc:
        return _invalid(f"cannot read {args.file}: {exc.strerror}", out, err)
    except ValueError as exc:
        return _invalid(f"{args.file} is not valid JSON: {exc}", out, err)
    if not isinstance(raw, dict):
        return _invalid("the document must be a JSON object", out, err)
    engine = Engine(
        network_policy=policy, rate_limit_store=_rate_limit_store(args.rate_limit_store)
    )
    try:
        document = SendDocument.model_validate(raw)
        context = TemplateContext(row=document.row, secrets=document.secrets)
        # Token requests go through the engine's client, under the same --allow-network rules.
        options = AuthOptions(token_store_url=args.token_store, http_client=engine.client)
        auth: CredentialAuth = auth_types.build(document.auth, context=context, options=options)
    except ValidationError as exc:
        return _invalid(describe_validation_error(exc), out, err)
    except ConfigError as exc:
        return _invalid(exc.message, out, err)
    if args.repeat == 1:
        result = engine.send(
            document.request, context=context, auth=auth, rate_limit_key=args.rate_limit_key
        )
        _print(result.to_dict(), out)
        return EXIT_OK if result.ok else EXIT_FAILED
    return _repeat(engine, document, context, auth, args, out)


def _repeat(
    engine: Engine,
    document: SendDocument,
    context: TemplateContext,
    auth: CredentialAuth,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    repeat, concurrency = args.repeat, args.concurrency
    started = time.perf_counter()

    def one(_: int) -> Result:
        return engine.send(
            document.request, context=context, auth=auth, rate_limit_key=args.rate_limit_key
        )

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(repeat)))
    elapsed = time.perf_counter() - started
    by_status = Counter(
        str(r.status) if r.error is None or r.status is not None else f"error:{r.error.code}"
        for r in results
    )
    ok = sum(r.ok for r in results)
    _print(
        {
            "repeat": repeat,
            "concurrency": concurrency,
            "ok": ok,
            "failed": repeat - ok,
            "by_status": dict(sorted(by_status.items())),
            "elapsed_ms": round(elapsed * 1000, 1),
            "requests_per_s": round(repeat / elapsed, 1) if elapsed > 0 else None,
            "last": results[-1].to_dict(),
        },
        out,
    )
    return EXIT_OK if ok == repeat else EXIT_FAILED
