"""HMAC request signing against a provider on 127.0.0.1 that recomputes every signature on its
own (``tests/signature_servers.py``: ``hmac``/``hashlib``, none of the project's code)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

from connectors import Engine, RequestConfig, TemplateContext
from connectors.auth import AuthOptions, HmacSignatureAuth, auth_types
from connectors.debug import MASK
from connectors.errors import ConfigError
from tests.connectors.conftest import fast_retry
from tests.servers import LocalServer, echo, fail_times
from tests.signature_servers import SignatureVerifier

SECRET = "whsec-canary-5f1d0c9a7b"


def hmac_auth(**fields: Any) -> tuple[HmacSignatureAuth, TemplateContext]:
    context = TemplateContext(row={"email": "ada@example.com", "name": "Ada Lovelace"})
    document = {"type": "hmac_signature", "secret": SECRET, **fields}
    auth = auth_types.build(document, context=context, options=AuthOptions())
    assert isinstance(auth, HmacSignatureAuth)
    return auth, context


def send(engine: Engine, auth, context, url: str, **fields: Any):
    config = RequestConfig(endpoint=url, retry=fast_retry(attempts=1), **fields)
    return engine.send(config, context=context, auth=auth)


def test_a_get_with_a_query_is_signed_as_the_provider_rebuilds_it(
    engine: Engine, api_server: LocalServer
) -> None:
    verifier = SignatureVerifier(secret=SECRET)
    api_server.route("/v1/people%20search", verifier.endpoint())
    auth, context = hmac_auth()

    result = send(
        engine,
        auth,
        context,
        api_server.url("/v1/people%20search"),
        query={"z": "last", "email": "{{ row.email }}", "name": "{{ row.name }}", "a": "é/+ &"},
    )

    assert result.ok, (result.error, verifier.refused)
    assert verifier.verified == 1
    signed = verifier.canonical[0].decode()
    method, path, query, timestamp, body_hash = signed.split("\n")
    assert (method, path) == ("GET", "/v1/people%20search")
    # Sorted by name, each part RFC 3986-encoded (a space is %20, never +).
    assert query == ("a=%C3%A9%2F%2B%20%26&email=ada%40example.com&name=Ada%20Lovelace&z=last")
    assert abs(int(timestamp) - time.time()) < 5
    assert body_hash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    sent = api_server.requests[-1]
    assert sent.header("x-timestamp") == timestamp
    assert sent.header("x-key-id") is None  # no key id, no header


def test_the_documented_sha256_prefix_with_a_key_id_signs_the_body_hash(
    engine: Engine, api_server: LocalServer
) -> None:
    verifier = SignatureVerifier(secret=SECRET, prefix="sha256=", key_id="key_live_1")
    api_server.route("/v1/enrich", verifier.endpoint())
    auth, context = hmac_auth(signature_prefix="sha256=", key_id="key_live_1")

    result = send(
        engine,
        auth,
        context,
        api_server.url("/v1/enrich"),
        method="POST",
        body={"email": "{{ row.email }}", "note": 'quotes " and\nnew lines'},
    )

    assert result.ok, (result.error, verifier.refused)
    sent = api_server.requests[-1]
    assert sent.header("x-signature").startswith("sha256=")
    assert len(sent.header("x-signature")) == len("sha256=") + 64
    assert sent.header("x-key-id") == "key_live_1"
    assert verifier.canonical[0].endswith(hashlib.sha256(sent.body).hexdigest().encode())


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_a_raw_body_template_in_slack_style_headers(
    engine: Engine, api_server: LocalServer, encoding: str
) -> None:
    layout = {
        "canonical_template": "v0:{timestamp}:{body}",
        "signature_header": "X-Slack-Signature",
        "signature_prefix": "v0=",
        "timestamp_header": "X-Slack-Request-Timestamp",
        "encoding": encoding,
    }
    verifier = SignatureVerifier(
        secret=SECRET,
        template=layout["canonical_template"],
        signature_header=layout["signature_header"],
        prefix=layout["signature_prefix"],
        timestamp_header=layout["timestamp_header"],
        encoding=encoding,
    )
    api_server.route("/hook", verifier.endpoint())
    auth, context = hmac_auth(**layout)

    result = send(
        engine,
        auth,
        context,
        api_server.url("/hook"),
        method="POST",
        body={"text": "{timestamp} stays text in the body"},
    )

    assert result.ok, (result.error, verifier.refused)
    assert verifier.canonical[0].startswith(b"v0:")
    assert b"{timestamp} stays text in the body" in verifier.canonical[0]


def test_a_wrong_secret_is_refused_by_the_provider(engine: Engine, api_server: LocalServer) -> None:
    verifier = SignatureVerifier(secret="another-secret-entirely")
    api_server.route("/v1/me", verifier.endpoint())
    auth, context = hmac_auth()

    result = send(engine, auth, context, api_server.url("/v1/me"))

    assert not result.ok and result.status == 401
    assert verifier.refused == ["bad signature"] and verifier.verified == 0


def test_every_attempt_is_signed_afresh(engine: Engine, api_server: LocalServer) -> None:
    verifier = SignatureVerifier(secret=SECRET)
    api_server.route("/v1/flaky", fail_times(1, status=503, then=verifier.endpoint()))
    auth, context = hmac_auth()
    config = RequestConfig(
        endpoint=api_server.url("/v1/flaky"),
        method="POST",
        body={"a": 1},
        retry=fast_retry(attempts=2),
    )

    result = engine.send(config, context=context, auth=auth)

    assert result.ok and result.attempts == 2
    assert verifier.verified == 1
    assert all(request.header("x-signature") for request in api_server.requests)


def test_the_secret_and_the_signature_are_masked_the_timestamp_is_shown(
    engine: Engine, api_server: LocalServer
) -> None:
    api_server.route("/echo", echo())
    auth, context = hmac_auth(signature_prefix="sha256=", key_id="key_live_1")

    result = send(engine, auth, context, api_server.url("/echo"), method="POST", body={"a": 1})

    assert result.ok
    signature = api_server.requests[-1].header("x-signature").removeprefix("sha256=")
    assert {SECRET, signature} <= auth.secret_values()
    assert result.value["headers"]["x-signature"] == f"sha256={MASK}"
    assert result.debug.request_headers["X-Signature"] == MASK
    assert result.debug.request_headers["X-Timestamp"].isdigit()
    assert result.debug.request_headers["X-Key-Id"] == "key_live_1"
    shown = json.dumps([result.value, result.debug.to_dict()])
    assert signature not in shown and SECRET not in shown


def test_the_base_class_checks_the_host_before_anything_is_signed_or_sent(
    engine: Engine, api_server: LocalServer
) -> None:
    api_server.route("/", echo())
    auth, context = hmac_auth(allowed_hosts=["api.example.com"])

    result = send(engine, auth, context, api_server.url("/"))

    assert result.error is not None and result.error.code == "auth"
    assert "may only be sent to api.example.com" in result.error.message
    assert api_server.count() == 0
    assert auth.secret_values() == {SECRET}  # nothing was signed


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"canonical_template": "{method}\n{host}"}, "auth.canonical_template: {host} is no"),
        ({"canonical_template": "{method} {"}, "a brace stands outside a placeholder"),
        ({"canonical_template": "  "}, "auth.canonical_template: give the text to sign"),
        ({"timestamp_header": ""}, "uses {timestamp}: name the timestamp header"),
        ({"key_id": "k1", "key_id_header": ""}, "Name the header that carries the key id"),
        ({"timestamp_header": "x-signature"}, "go in different headers"),
        ({"signature_header": "X Sig"}, "auth.signature_header: 'X Sig' is not a valid header"),
        ({"signature_header": "Host"}, "auth.signature_header: the Host header is set"),
        ({"signature_prefix": "é="}, "auth.signature_prefix: The signature prefix must be"),
        ({"encoding": "base32"}, "auth.encoding: Input should be 'hex' or 'base64'"),
        ({"secret": ""}, "auth.secret: String should have at least 1 character"),
    ],
)
def test_each_mistake_is_refused_when_saved_naming_its_field(fields, message) -> None:
    with pytest.raises(ConfigError) as refused:
        auth_types.parse_config({"type": "hmac_signature", "secret": SECRET, **fields})
    assert message in refused.value.message
    assert SECRET not in refused.value.message


def test_a_text_area_s_line_ends_become_the_provider_s() -> None:
    config = auth_types.parse_config(
        {"type": "hmac_signature", "secret": SECRET, "canonical_template": "{method}\r\n{path}"}
    )
    assert config.canonical_template == "{method}\n{path}"  # type: ignore[attr-defined]
    assert config.key_credentials() == {"secret": SECRET}


def test_the_example_in_the_docs_is_what_the_api_receives(
    engine: Engine, api_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/auth-types.md shows this request; a fixed clock makes its signature reproducible."""
    import connectors.auth.hmac_signature as hmac_signature

    monkeypatch.setattr(hmac_signature.time, "time", lambda: 1795434965.2)
    api_server.route("/v1/people", echo())
    context = TemplateContext(row={"email": "ada@example.com"})
    document = {
        "type": "hmac_signature",
        "secret": "whsec_example_secret_0123",
        "signature_prefix": "sha256=",
        "key_id": "key_live_1",
    }
    auth = auth_types.build(document, context=context, options=AuthOptions())
    config = RequestConfig(
        method="POST",
        endpoint=api_server.url("/v1/people"),
        query={"email": "{{ row.email }}", "fields": "name"},
        body={"email": "{{ row.email }}"},
    )

    assert engine.send(config, context=context, auth=auth).ok
    sent = api_server.requests[-1]
    assert sent.body == b'{"email":"ada@example.com"}'
    assert sent.header("x-timestamp") == "1795434965"
    assert sent.header("x-key-id") == "key_live_1"
    assert sent.header("x-signature") == (
        "sha256=d76af4d7817b9f1532a5812b6adc1ba55892e30ddb33361319a39693e1636ea1"
    )
