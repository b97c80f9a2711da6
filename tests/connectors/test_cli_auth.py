"""Every auth type through ``python -m connectors send``: what the API receives, how many token
fetches a run costs (in one process and across processes sharing Redis), exit codes, and that
no password, secret or key ever reaches the output."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto import jwk, jws

from connectors import TemplateContext
from connectors.auth import AuthOptions, InMemoryTokenStore, TokenCache, auth_types
from connectors.cli import main
from tests.servers import LocalServer, RecordedRequest, Reply, echo, json_reply
from tests.token_servers import TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ["--allow-network", "127.0.0.0/8"]
REDIS_URL = os.environ.get("ENRICH_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
TOKEN_KEY_PREFIX = "enrich:token:"  # RedisTokenStore's default, which the CLI uses
PASSWORD = "pa55-word-canary"
CLIENT_SECRET = "client-secret-canary"
HMAC_SECRET = "hmac-secret-canary-of-at-least-32-bytes"


def run(document: dict[str, Any], *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the CLI in-process with ``document`` on standard input; returns the exit status,
    the parsed output and the raw output (to search for secrets)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(
        ["send", "-", *LOOPBACK, *args],
        stdin=io.StringIO(json.dumps(document)),
        stdout=stdout,
        stderr=stderr,
    )
    raw = stdout.getvalue()
    return code, json.loads(raw), raw + stderr.getvalue()


def unique(name: str) -> str:
    """A name no earlier test used: the in-process token cache lives as long as the process."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_jwk(private_pem: str) -> jwk.JWK:
    return jwk.JWK(**json.loads(jwk.JWK.from_pem(private_pem.encode()).export_public()))


def slow(handler: Any, delay_s: float) -> Any:
    """``handler``, answering ``delay_s`` later: everyone else arrives while the token is made."""

    def handle(request: RecordedRequest) -> Reply:
        reply = handler(request)
        reply.delay_s = delay_s
        return reply

    return handle


@pytest.fixture
def token_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


# -- what the API receives, type by type ---------------------------------------------------------


def test_none_adds_nothing(api_server: LocalServer) -> None:
    api_server.route("/", echo())
    code, output, _ = run({"auth": {"type": "none"}, "request": {"endpoint": api_server.url("/")}})
    assert code == 0
    assert "authorization" not in output["value"]["headers"]


@pytest.mark.parametrize("location", ["header", "query"])
def test_api_key(api_server: LocalServer, location: str) -> None:
    key = unique("key")

    def check(request: RecordedRequest) -> Reply:
        given = request.header("x-api-key") if location == "header" else request.query["api_key"][0]
        return Reply.json({"ok": given == key}, status=200 if given == key else 401)

    api_server.route("/", check)
    name = "X-API-Key" if location == "header" else "api_key"
    code, output, raw = run(
        {
            "auth": {"type": "api_key", "key": name, "value": key, "in": location},
            "request": {"endpoint": api_server.url("/")},
        }
    )
    assert code == 0, output["error"]
    assert key not in raw


def test_static_headers_and_basic(api_server: LocalServer) -> None:
    expected = "Basic " + base64.b64encode(f"ada:{PASSWORD}".encode()).decode()

    def check(request: RecordedRequest) -> Reply:
        ok = request.header("authorization") == expected and request.header("x-team") == "growth"
        return Reply.json({"ok": ok}, status=200 if ok else 401)

    api_server.route("/", check)
    code, output, raw = run(
        {
            "auth": {
                "type": "static",
                "headers": {"X-Team": "growth"},
                "username": "ada",
                "password": PASSWORD,
            },
            "request": {"endpoint": api_server.url("/")},
        }
    )
    assert code == 0, output["error"]
    assert PASSWORD not in raw and expected.split()[1] not in raw


def hmac_jwk(secret: str) -> jwk.JWK:
    return jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode())


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS256"])
def test_jwt_is_signed_for_every_request_and_verifies_independently(
    api_server: LocalServer, algorithm: str
) -> None:
    if algorithm == "RS256":
        key = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        verifier = public_jwk(key)
    elif algorithm == "ES256":
        key = pem(ec.generate_private_key(ec.SECP256R1()))
        verifier = public_jwk(key)
    else:
        key, verifier = HMAC_SECRET, hmac_jwk(HMAC_SECRET)
    claims: list[dict[str, Any]] = []
    lock = threading.Lock()

    def verify(request: RecordedRequest) -> Reply:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        checked = jws.JWS()
        try:
            checked.deserialize(token)
            checked.verify(verifier, alg=algorithm)
        except (jws.InvalidJWSObject, jws.InvalidJWSSignature):
            return Reply.json({"error": "invalid_token"}, status=401)
        with lock:
            claims.append({"scheme": scheme, **json.loads(checked.payload)})
        return Reply.json({"ok": True})

    api_server.route("/", verify)
    code, output, raw = run(
        {
            "auth": {
                "type": "jwt",
                "private_key": key,
                "algorithm": algorithm,
                "claims": {"sub": "{{ row.email }}", "iat": "{{ now() }}", "exp": "{{ now(300) }}"},
            },
            "request": {"endpoint": api_server.url("/")},
            "row": {"email": "ada@example.test"},
        },
        "--repeat",
        "8",
        "--concurrency",
        "4",
    )
    assert code == 0, output["last"]["error"]
    assert output["by_status"] == {"200": 8}
    assert len(claims) == 8
    assert {c["scheme"] for c in claims} == {"Bearer"}
    assert {c["sub"] for c in claims} == {"ada@example.test"}
    assert all(isinstance(c["exp"], int) and c["exp"] - c["iat"] == 300 for c in claims)
    assert key not in raw and "BEGIN PRIVATE KEY" not in raw


# -- token types: one fetch for a whole run ------------------------------------------------------


def token_document(kind: str, token_server: LocalServer, api_server: LocalServer) -> tuple[
    dict[str, Any], TokenIssuer, str, str
]:  # fmt: skip
    """A document for token type ``kind`` against a fresh issuer; returns it, the issuer, the
    token path and the credential that must never be printed."""
    issuer = TokenIssuer()
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    user = unique("ada")
    if kind == "oauth_client_credentials":
        token_server.route(
            "/token", slow(issuer.oauth_endpoint(client_id=user, client_secret=CLIENT_SECRET), 0.3)
        )
        auth = {
            "type": kind,
            "client_id": user,
            "client_secret": CLIENT_SECRET,
            "token_url": token_server.url("/token"),
        }
        return auth, issuer, "/token", CLIENT_SECRET
    if kind == "oauth_jwt_bearer":
        key = pem(ec.generate_private_key(ec.SECP256R1()))
        token_server.route(
            "/token",
            slow(issuer.jwt_bearer_endpoint(verifying_key=public_jwk(key), algorithm="ES256"), 0.3),
        )
        auth = {
            "type": kind,
            "client_id": user,
            "private_key": key,
            "algorithm": "ES256",
            "token_url": token_server.url("/token"),
            "subject": "ada@example.test",
            "audience": token_server.url("/token"),
        }
        return auth, issuer, "/token", key
    token_server.route(
        "/login", slow(issuer.password_endpoint(username=user, password=PASSWORD), 0.3)
    )
    auth = {
        "type": kind,
        "token_endpoint": token_server.url("/login"),
        "username": user,
        "password": PASSWORD,
    }
    return auth, issuer, "/login", PASSWORD


TOKEN_TYPES = ["oauth_client_credentials", "oauth_jwt_bearer", "jwt_token_endpoint"]


@pytest.mark.parametrize("kind", TOKEN_TYPES)
def test_64_requests_at_concurrency_32_cost_one_token_fetch(
    api_server: LocalServer, token_server: LocalServer, kind: str
) -> None:
    auth, _, path, secret = token_document(kind, token_server, api_server)
    code, output, raw = run(
        {"auth": auth, "request": {"endpoint": api_server.url("/")}},
        "--repeat",
        "64",
        "--concurrency",
        "32",
    )
    assert code == 0, output["last"]["error"]
    assert output["ok"] == 64 and output["by_status"] == {"200": 64}
    assert token_server.count(path) == 1
    assert api_server.count("/") == 64
    assert secret not in raw and "token-1" not in raw
    assert output["last"]["debug"]["request_headers"]["Authorization"] == "Bearer ••••"


def test_jwt_token_endpoint_fields_sit_in_auth(
    api_server: LocalServer, token_server: LocalServer
) -> None:
    issuer = TokenIssuer(jwt_tokens=True)
    user = unique("ada")
    token_server.route(
        "/login",
        issuer.password_endpoint(
            username=user,
            password=PASSWORD,
            send_as="form",
            fields=("email", "pass"),
            wrap=lambda token: {"data": {"token": token}},
        ),
    )
    api_server.route("/", issuer.protected(json_reply({"ok": True}), header="x-jwt", prefix="JWT"))
    code, output, raw = run(
        {
            "auth": {
                "type": "jwt_token_endpoint",
                "token_endpoint": token_server.url("/login"),
                "username": user,
                "password": PASSWORD,
                "credentials_in": "form",
                "username_field": "email",
                "password_field": "pass",
                "token_location": "data.token",
                "token_type": "JWT",
                "auth_header_name": "X-JWT",
            },
            "request": {"endpoint": api_server.url("/")},
        },
        "--repeat",
        "4",
    )
    assert code == 0, output["last"]["error"]
    assert token_server.count("/login") == 1
    assert token_server.requests[0].form() == {"email": user, "pass": PASSWORD}
    assert output["last"]["debug"]["request_headers"]["X-JWT"] == "JWT ••••"
    assert PASSWORD not in raw


def test_a_refused_token_is_replaced_once_and_the_request_retried(
    api_server: LocalServer, token_server: LocalServer
) -> None:
    auth, issuer, path, _ = token_document("oauth_client_credentials", token_server, api_server)
    document = {"auth": auth, "request": {"endpoint": api_server.url("/")}}
    assert run(document)[0] == 0

    issuer.revoke_all()
    code, output, _ = run(document, "--repeat", "16", "--concurrency", "8")

    assert code == 0 and output["by_status"] == {"200": 16}
    assert token_server.count(path) == 2


@pytest.mark.parametrize("store", ["memory://", "redis"])
def test_an_infinite_expires_in_is_cached_not_refetched(
    api_server: LocalServer, token_server: LocalServer, store: str
) -> None:
    # JSON's 1e400 (or Infinity) parses as an infinite float; the token is cached (for at most
    # MAX_LIFETIME_S) instead of being refetched for every request, or overflowing Redis's TTL.
    client = redis_client() if store == "redis" else None
    issuer = TokenIssuer()
    user = unique("client")
    token_server.route(
        "/token", lambda request: Reply.json({"access_token": issuer.issue(), "expires_in": 1e400})
    )
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    auth = {"type": "oauth_client_credentials", "client_id": user, "client_secret": CLIENT_SECRET,
            "token_url": token_server.url("/token")}  # fmt: skip
    document = {"auth": auth, "request": {"endpoint": api_server.url("/")}}
    try:
        code, output, _ = run(
            document, "--repeat", "8", "--token-store", REDIS_URL if client else store
        )
    finally:
        if client is not None:
            client.delete(*redis_keys_of(auth))
    assert code == 0, output["last"]["error"]
    assert token_server.count("/token") == 1


# -- one token for several processes -------------------------------------------------------------


def redis_client() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return client


def redis_keys_of(auth: dict[str, Any]) -> list[str]:
    """The Redis keys the CLI uses for ``auth``'s token and its fetch lock."""
    built = auth_types.build(
        auth,
        context=TemplateContext(),
        options=AuthOptions(token_cache=TokenCache(InMemoryTokenStore())),
    )
    key = TOKEN_KEY_PREFIX + built.cache_key  # type: ignore[attr-defined]
    return [key, key + ":lock"]


def start_cli(document: dict[str, Any], fifo: Path, *args: str) -> subprocess.Popen[str]:
    """``python -m connectors send FIFO``: the process blocks opening the FIFO until the test
    writes the document, so every process starts sending at the same moment."""
    os.mkfifo(fifo)
    return subprocess.Popen(
        [sys.executable, "-m", "connectors", "send", str(fifo), *LOOPBACK, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def release(processes: list[subprocess.Popen[str]], fifos: list[Path], text: str) -> None:
    """Wait until every process has opened its FIFO (imports done, about to send), then hand
    each its document."""
    deadline = time.monotonic() + 30
    opened: list[int] = []
    for process, fifo in zip(processes, fifos, strict=True):
        while True:
            try:
                opened.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                break
            except OSError:  # ENXIO: no reader yet
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the CLI did not start: {process.communicate()}"
                    ) from None
                time.sleep(0.02)
    for descriptor in opened:
        os.write(descriptor, text.encode())
        os.close(descriptor)


def run_processes(
    document: dict[str, Any], tmp_path: Path, count: int, *args: str
) -> list[tuple[int, str]]:
    fifos = [tmp_path / f"document-{number}.json" for number in range(count)]
    processes = [start_cli(document, fifo, *args) for fifo in fifos]
    try:
        release(processes, fifos, json.dumps(document))
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [
        (process.returncode, stdout + stderr)
        for process, (stdout, stderr) in zip(processes, outputs, strict=True)
    ]


def test_four_processes_sharing_redis_cause_one_token_fetch(
    api_server: LocalServer, token_server: LocalServer, tmp_path: Path
) -> None:
    client = redis_client()
    issuer = TokenIssuer()
    user = unique("ada")
    # Slow enough that every process asks while the one fetch is still under way.
    token_server.route(
        "/login", slow(issuer.password_endpoint(username=user, password=PASSWORD), 1)
    )
    api_server.route("/", issuer.protected(json_reply({"ok": True})))
    auth = {"type": "jwt_token_endpoint", "token_endpoint": token_server.url("/login"),
            "username": user, "password": PASSWORD}  # fmt: skip
    keys = redis_keys_of(auth)
    assert not client.exists(*keys)
    document = {"auth": auth, "request": {"endpoint": api_server.url("/")}}
    try:
        results = run_processes(
            document, tmp_path, 4,
            "--token-store", REDIS_URL, "--repeat", "16", "--concurrency", "16",
        )  # fmt: skip
    finally:
        client.delete(*keys)

    for code, output in results:
        assert code == 0, output
        assert PASSWORD not in output and "token-1" not in output
        assert json.loads(output)["by_status"] == {"200": 16}
    assert token_server.count("/login") == 1
    assert api_server.count("/") == 64


def test_without_a_shared_store_each_process_fetches_its_own_token(
    api_server: LocalServer, token_server: LocalServer, tmp_path: Path
) -> None:
    auth, _, path, _ = token_document("oauth_client_credentials", token_server, api_server)
    document = {"auth": auth, "request": {"endpoint": api_server.url("/")}}
    results = run_processes(document, tmp_path, 2, "--repeat", "8", "--concurrency", "8")
    assert [code for code, _ in results] == [0, 0], results
    assert token_server.count(path) == 2


# -- what users are told --------------------------------------------------------------------------


def test_a_wrong_password_exits_1_with_a_clear_message_and_no_secret(
    api_server: LocalServer, token_server: LocalServer
) -> None:
    user = unique("ada")
    token_server.route("/login", TokenIssuer().password_endpoint(username=user, password="right"))
    code, output, raw = run(
        {
            "auth": {"type": "jwt_token_endpoint", "token_endpoint": token_server.url("/login"),
                     "username": user, "password": PASSWORD},
            "request": {"endpoint": api_server.url("/")},
        }
    )  # fmt: skip
    assert code == 1
    assert output["error"] == (
        f"The token endpoint {token_server.url('/login')} answered 401 Unauthorized. "
        "Check the credentials."
    )
    assert output["debug"]["error_code"] == "auth"
    assert PASSWORD not in raw
    assert api_server.count() == 0


def test_a_wrong_token_location_asks_to_fill_out_the_auth_fields(
    api_server: LocalServer, token_server: LocalServer
) -> None:
    user = unique("ada")
    token_server.route("/login", TokenIssuer().password_endpoint(username=user, password=PASSWORD))
    code, output, raw = run(
        {
            "auth": {"type": "jwt_token_endpoint", "token_endpoint": token_server.url("/login"),
                     "username": user, "password": PASSWORD, "token_location": "data.token"},
            "request": {"endpoint": api_server.url("/")},
        }
    )  # fmt: skip
    assert code == 1
    assert output["error"] == (
        "Please fill out your auth fields: the token location “data.token” found nothing in the "
        f"answer of {token_server.url('/login')}; the answer's top-level keys are: access_token."
    )
    assert "token-1" not in raw


def test_a_host_outside_allowed_hosts_gets_no_credentials(api_server: LocalServer) -> None:
    api_server.route("/", echo())
    code, output, raw = run(
        {
            "auth": {"type": "api_key", "key": "X-API-Key", "value": "k-canary",
                     "allowed_hosts": ["api.example.com"]},
            "request": {"endpoint": api_server.url("/")},
        }
    )  # fmt: skip
    assert code == 1
    assert output["error"].startswith(
        "This account's credentials may only be sent to api.example.com; "
        "the request goes to 127.0.0.1."
    )
    assert api_server.count() == 0
    assert "k-canary" not in raw


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"type": "jwt_token_endpoint", "token_endpoint": "https://x.example/login",
          "username": "ada"}, "auth.password: Field required"),
        ({"type": "oauth_client_credentials", "client_id": "c", "client_secret": CLIENT_SECRET,
          "token_url": "not a url"}, "auth.token_url: "),
        ({"type": "oauth_client_credentials", "client_id": "c", "client_secret": CLIENT_SECRET,
          "token_url": "https://x.example/t", "client_auth": "private_key_jwt"},
         "auth.client_auth: "),
        ({"type": "api_key", "key": "K", "value": "v", "location": "query"},
         "auth.location: Extra inputs are not permitted"),
        ({"type": "jwt", "private_key": "not a key", "algorithm": "ES256"},
         "The private key is not a valid PEM"),
        ({"type": "jwt", "private_key": HMAC_SECRET, "algorithm": "HS999"},
         "auth.algorithm: choose one of HS256"),
        ({"type": "jwt_token_endpoint", "token_endpoint": "https://x.example/login",
          "username": "ada", "password": PASSWORD, "token_type": "Bearer token"},
         "auth.token_type: "),
        ({"type": "static", "headers": {"X-Key": "k"}, "allowed_hosts": ["https://x.example/"]},
         "auth.allowed_hosts: "),
        ({"type": "kerberos"}, "auth.type: unknown auth type 'kerberos'"),
    ],
)  # fmt: skip
def test_an_invalid_auth_config_exits_2_naming_the_field(
    auth: dict[str, Any], message: str
) -> None:
    code, output, raw = run({"auth": auth, "request": {"endpoint": "https://x.example/"}})
    assert code == 2
    assert message in output["error"]
    assert PASSWORD not in raw and CLIENT_SECRET not in raw and HMAC_SECRET not in raw


def test_an_unreachable_token_store_is_a_clear_error_not_a_traceback(
    api_server: LocalServer, token_server: LocalServer
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    auth, _, _, secret = token_document("oauth_client_credentials", token_server, api_server)

    code, output, raw = run(
        {"auth": auth, "request": {"endpoint": api_server.url("/")}},
        "--token-store",
        f"redis://127.0.0.1:{port}/0",
    )

    assert code == 1
    assert "The shared token store (Redis) did not answer" in output["error"]
    assert "Traceback" not in raw and secret not in raw
    assert api_server.count("/") == 0
