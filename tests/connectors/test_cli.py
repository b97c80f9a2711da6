"""``python -m connectors send``: output shape and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.cli import main
from tests.servers import LocalServer, echo, fail_times, json_reply

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ["--allow-network", "127.0.0.0/8"]
RESULT_KEYS = {"ok", "status", "value", "error", "attempts", "requests", "elapsed_ms", "debug"}


def run(document: Any, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the CLI in-process with ``document`` on standard input."""
    stdout, stderr = io.StringIO(), io.StringIO()
    text = document if isinstance(document, str) else json.dumps(document)
    code = main(["send", "-", *args], stdin=io.StringIO(text), stdout=stdout, stderr=stderr)
    return code, json.loads(stdout.getvalue()), stderr.getvalue()


def test_a_successful_request_prints_the_result_and_exits_0(api_server: LocalServer) -> None:
    api_server.route("/person", json_reply({"data": {"name": "Ada", "age": 36}}))
    code, output, _ = run(
        {"request": {"endpoint": api_server.url("/person"), "field_paths": "data.name"}}, *LOOPBACK
    )
    assert code == 0
    assert set(output) == RESULT_KEYS
    assert output["ok"] is True and output["status"] == 200 and output["value"] == "Ada"
    assert output["error"] is None and output["attempts"] == 1
    assert output["debug"]["response_status"] == 200


def test_row_secrets_and_auth_come_from_the_document(api_server: LocalServer) -> None:
    api_server.route("/echo", echo())
    document = {
        "auth": {"type": "none"},
        "request": {
            "method": "POST",
            "endpoint": api_server.url("/echo"),
            "headers": {"X-Key": "{{ get_secret('key') }}"},
            "body": {"name": "{{ row.name }}"},
        },
        "row": {"name": "Ada"},
        "secrets": {"key": "very-secret-value"},
    }
    code, output, _ = run(document, *LOOPBACK)
    assert code == 0
    assert output["value"]["json"] == {"name": "Ada"}
    assert api_server.requests[-1].header("x-key") == "very-secret-value"
    # The echoed credential is masked in what the command prints.
    assert output["value"]["headers"]["x-key"] == "••••"
    assert "very-secret-value" not in json.dumps(output["debug"])


def test_a_failed_request_exits_1_with_the_message(api_server: LocalServer) -> None:
    api_server.route("/missing", json_reply({"error": "nope"}, status=404))
    code, output, _ = run({"request": {"endpoint": api_server.url("/missing")}}, *LOOPBACK)
    assert code == 1
    assert output["ok"] is False and output["status"] == 404
    assert output["error"] == "The API answered 404 Not Found. Check the endpoint URL."


def test_private_networks_are_refused_without_allow_network(api_server: LocalServer) -> None:
    api_server.route("/", json_reply({}))
    code, output, _ = run({"request": {"endpoint": api_server.url("/")}})
    assert code == 1
    assert output["debug"]["error_code"] == "blocked_address"
    assert api_server.count() == 0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "- is not valid JSON"),
        ("[1, 2]", "the document must be a JSON object"),
        ({}, "request: Field required"),
        ({"request": {"endpoint": "https://x.example/"}, "extra": 1}, "extra: Extra inputs"),
        (
            {"request": {"endpoint": "https://x.example/", "retry": {"attempts": 0}}},
            "request.retry.attempts: Input should be greater than or equal to 1",
        ),
        (
            {"request": {"endpoint": "https://x.example/{{ row.id"}},
            "request.endpoint: Template syntax error",
        ),
        (
            {"request": {"endpoint": "https://x.example/"}, "auth": {"type": "magic"}},
            "auth.type: unknown auth type 'magic' (known types: api_key, hmac_signature, "
            "jwt, jwt_token_endpoint, none, oauth_client_credentials, oauth_jwt_bearer, static)",
        ),
        (
            {"request": {"endpoint": "https://x.example/"}, "auth": {}},
            "auth.type: a type is required",
        ),
        (
            {"request": {"endpoint": "https://x.example/"}, "secrets": {"k": 1}},
            "secrets.k: Input should be a valid string",
        ),
    ],
)
def test_an_invalid_document_exits_2_naming_the_field(document: Any, message: str) -> None:
    code, output, stderr = run(document)
    assert code == 2
    assert message in output["error"]
    assert output["ok"] is False and output["debug"] is None
    assert message in stderr


def test_an_invalid_network_exits_2() -> None:
    code, output, _ = run(
        {"request": {"endpoint": "https://x.example/"}}, "--allow-network", "10.0.0.300/8"
    )
    assert code == 2
    assert output["error"] == "--allow-network: '10.0.0.300/8' is not a network in CIDR notation."


@pytest.mark.parametrize("url", ["memcached://x", "redis://", "file:///tmp/x"])
def test_an_invalid_store_url_exits_2(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["send", "-", "--token-store", url], stdin=io.StringIO("{}"))
    assert caught.value.code == 2
    assert "--token-store" in capsys.readouterr().err


def test_token_store_urls_are_accepted(api_server: LocalServer) -> None:
    api_server.route("/", json_reply({}))
    document = {"request": {"endpoint": api_server.url("/")}}
    for url in ("memory://", "redis://127.0.0.1:6379/0", "rediss://cache.example:6380/1"):
        code, _, _ = run(document, *LOOPBACK, "--token-store", url)
        assert code == 0, url


def test_repeat_prints_a_summary_by_status(api_server: LocalServer) -> None:
    api_server.route("/flaky", fail_times(3, status=400, then=json_reply({"ok": True})))
    document = {"request": {"endpoint": api_server.url("/flaky")}}
    code, output, _ = run(document, *LOOPBACK, "--repeat", "10", "--concurrency", "4")
    assert code == 1
    assert output["repeat"] == 10 and output["concurrency"] == 4
    assert output["ok"] == 7 and output["failed"] == 3
    assert output["by_status"] == {"200": 7, "400": 3}
    assert set(output["last"]) == RESULT_KEYS
    assert api_server.count("/flaky") == 10


def test_repeat_counts_failures_without_an_answer_by_error_code() -> None:
    document = {"request": {"endpoint": "http://127.0.0.1:9/", "retry": {"attempts": 1}}}
    code, output, _ = run(document, "--repeat", "3")
    assert code == 1
    assert output["by_status"] == {"error:blocked_address": 3}


def test_repeat_and_concurrency_must_be_positive() -> None:
    code, output, _ = run({"request": {"endpoint": "https://x.example/"}}, "--repeat", "0")
    assert code == 2
    assert output["error"] == "--repeat and --concurrency must be at least 1"


def test_python_dash_m_connectors_reads_a_file(api_server: LocalServer, tmp_path: Path) -> None:
    api_server.route("/person", json_reply({"name": "Ada"}))
    document = tmp_path / "request.json"
    document.write_text(json.dumps({"request": {"endpoint": api_server.url("/person")}}))
    completed = subprocess.run(
        [sys.executable, "-m", "connectors", "send", str(document), *LOOPBACK],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["value"] == {"name": "Ada"}


def test_python_dash_m_connectors_exits_2_for_a_missing_file(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "connectors", "send", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "cannot read" in json.loads(completed.stdout)["error"]
