"""The SSRF guard.

Only loopback is ever contacted. Other ranges are checked on the classifier and the resolver
(a resolver that refuses to be called proves no lookup happens for literals), or by asserting the
guard refuses before any connection.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from ipaddress import ip_address

import httpx
import pytest

from connectors import (
    BlockedAddressError,
    Engine,
    NetworkError,
    NetworkPolicy,
    RequestConfig,
    TemplateContext,
    classify_address,
    parse_ip_literal,
)
from tests.servers import LocalServer, echo, json_reply, redirect, self_signed_tls


def no_dns(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"unexpected DNS lookup of {host}")


def resolver_for(
    answers: dict[str, list[str]], calls: list[str] | None = None
) -> Callable[..., list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0.0.0.0", "'this network'"),  # noqa: S104 - classified, never bound
        ("0.1.2.3", "'this network'"),
        ("10.0.0.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.100.100.200", "carrier-grade NAT"),  # Alibaba Cloud metadata
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.170", "IETF protocol"),
        ("192.0.2.1", "documentation"),
        ("192.88.99.1", "6to4 relay"),
        ("192.168.1.1", "private"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("198.51.100.1", "documentation"),
        ("203.0.113.1", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("168.63.129.16", "cloud metadata"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
        ("::ffff:0:a00:1", "IPv4-translated"),
        ("64:ff9b::a9fe:a9fe", "NAT64"),
        ("64:ff9b:1::1", "NAT64"),
        ("100::1", "discard"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:db8::1", "documentation"),
        ("2002:a9fe:a9fe::1", "6to4"),
        ("3fff::1", "documentation"),
        ("fc00::1", "unique local (private)"),
        ("fd00:ec2::254", "unique local (private)"),  # AWS metadata over IPv6
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
    ],
)
def test_non_public_addresses_are_classified(address: str, reason: str) -> None:
    assert classify_address(ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_not_blocked(address: str) -> None:
    assert classify_address(ip_address(address)) is None
    assert NetworkPolicy().is_allowed(ip_address(address))


SPELLINGS = [
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0X7F000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("167772161", "10.0.0.1"),
    ("012.0.0.1", "10.0.0.1"),
    ("0xa.0.0.1", "10.0.0.1"),
    ("2852039166", "169.254.169.254"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("169.16689662", "169.254.169.254"),
    ("0", "0.0.0.0"),  # noqa: S104 - parsed, never bound
    ("[::1]", "::1"),
    ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ("[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe"),
]


@pytest.mark.parametrize(("spelling", "address"), SPELLINGS)
def test_every_ip_spelling_is_parsed_without_a_lookup(spelling: str, address: str) -> None:
    assert parse_ip_literal(spelling) == ip_address(address)


@pytest.mark.parametrize(
    ("spelling", "_"), [s for s in SPELLINGS if ":" not in s[0] and s[0][-1] != "."]
)
def test_literal_parsing_agrees_with_the_c_library(spelling: str, _: str) -> None:
    # inet_aton only parses (no lookup): the reference for what getaddrinfo would connect to.
    assert parse_ip_literal(spelling) == ip_address(socket.inet_aton(spelling))


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "1.2.3.4.5",
        "08.0.0.1",
        "0x1g.0.0.1",
        "1_0.0.0.1",
        "256.0.0.1",
        "+1.0.0.1",
        "",
    ],
)
def test_names_that_are_not_ip_literals_are_left_to_the_resolver(host: str) -> None:
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "2852039166",
        "0xa9fea9fe",
        "0251.0376.0251.0376",
        "012.0.0.1",
        "100.64.0.1",
        "[fd00:ec2::254]",
        "[::ffff:10.0.0.1]",
        "[64:ff9b::a00:1]",
        "[2002:a00:1::1]",
    ],
)
def test_blocked_literals_are_refused_without_any_lookup(host: str) -> None:
    policy = NetworkPolicy(resolver=no_dns)
    with pytest.raises(BlockedAddressError, match="requests there are not allowed"):
        policy.resolve(host.strip("[]"), 443)
    try:
        url = httpx.URL(f"https://{host}/")
    except httpx.InvalidURL:
        return  # httpx itself refuses dotted quads with leading zeros; nothing to send
    with pytest.raises(BlockedAddressError):
        policy.check_url(url)


def test_a_name_resolving_to_a_private_address_is_refused_without_naming_the_address() -> None:
    policy = NetworkPolicy(resolver=resolver_for({"intranet.example": ["10.1.2.3"]}))
    with pytest.raises(BlockedAddressError) as caught:
        policy.resolve("intranet.example", 443)
    assert caught.value.message.startswith("intranet.example resolves to a private address")
    assert "10.1.2.3" not in caught.value.message


def test_one_private_answer_among_public_ones_refuses_the_name() -> None:
    policy = NetworkPolicy(resolver=resolver_for({"mixed.example": ["93.184.216.34", "127.0.0.1"]}))
    with pytest.raises(BlockedAddressError):
        policy.resolve("mixed.example", 443)


def test_public_answers_are_returned_in_order_without_duplicates() -> None:
    answers = {"api.example": ["93.184.216.34", "2606:2800:220:1::1", "93.184.216.34"]}
    policy = NetworkPolicy(resolver=resolver_for(answers))
    assert policy.resolve("api.example", 443) == [
        ip_address("93.184.216.34"),
        ip_address("2606:2800:220:1::1"),
    ]


def test_a_lookup_failure_is_a_network_error() -> None:
    with pytest.raises(NetworkError, match=r"Could not resolve the host name nowhere\.example"):
        NetworkPolicy(resolver=resolver_for({})).resolve("nowhere.example", 443)


def test_allowed_networks_reopen_private_ranges_including_their_mapped_form() -> None:
    policy = NetworkPolicy.allowing("10.0.0.0/8", resolver=no_dns)
    assert policy.is_allowed(ip_address("10.9.8.7"))
    assert policy.is_allowed(ip_address("::ffff:10.9.8.7"))
    assert not policy.is_allowed(ip_address("192.168.0.1"))
    assert policy.resolve("012.0.0.1", 80) == [ip_address("10.0.0.1")]


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x/", "dict://x:11211/"]
)
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="Only http:// and https://"):
        NetworkPolicy(resolver=no_dns).check_url(httpx.URL(url))


LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "0x7f000001",
    "017700000001",
    "0177.1",
    "127.1",
    "0x7f.1",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_is_refused_in_every_spelling_when_not_allowed(
    api_server: LocalServer, host: str
) -> None:
    api_server.route("/", json_reply({"reached": True}))
    result = Engine().send(RequestConfig(endpoint=f"http://{host}:{api_server.port}/"))
    assert isinstance(result.error, BlockedAddressError)
    assert result.status is None
    assert api_server.count() == 0


@pytest.mark.parametrize("host", ["0177.0.0.1", "0127.0.0.01", "127.000.000.001"])
def test_dotted_quads_with_leading_zeros_are_not_valid_urls_and_are_never_sent(
    engine: Engine, api_server: LocalServer, host: str
) -> None:
    result = engine.send(RequestConfig(endpoint=f"http://{host}:{api_server.port}/"))
    assert result.error is not None
    assert result.error.message == "The endpoint does not render to a valid URL."
    assert api_server.count() == 0


@pytest.mark.parametrize("host", [h for h in LOOPBACK_SPELLINGS if "::" not in h])
def test_allowed_loopback_is_reached_in_every_spelling(
    engine: Engine, api_server: LocalServer, host: str
) -> None:
    api_server.route("/", json_reply({"reached": True}))
    result = engine.send(RequestConfig(endpoint=f"http://{host}:{api_server.port}/"))
    assert result.ok, result.error
    assert result.value == {"reached": True}


def test_allowed_ipv6_loopback_is_reached(engine: Engine) -> None:
    with LocalServer("::1") as server:
        server.route("/", json_reply({"v6": True}))
        result = engine.send(RequestConfig(endpoint=server.url("/")))
        mapped = engine.send(RequestConfig(endpoint=f"http://[::1]:{server.port}/"))
    assert result.value == {"v6": True} and mapped.ok


def test_a_private_answer_is_refused_before_any_connection() -> None:
    calls: list[str] = []
    engine = Engine(
        network_policy=NetworkPolicy(
            resolver=resolver_for({"metadata.internal": ["169.254.169.254"]}, calls)
        )
    )
    result = engine.send(RequestConfig(endpoint="http://metadata.internal/latest/meta-data/"))
    assert isinstance(result.error, BlockedAddressError)
    assert "link-local (cloud metadata)" in result.error.message
    assert calls == ["metadata.internal"]
    assert result.debug.attempts[0].hops[0].status is None


def test_the_checked_address_is_the_one_connected_to_with_the_original_host_header(
    api_server: LocalServer,
) -> None:
    api_server.route("/who", echo())
    calls: list[str] = []
    policy = NetworkPolicy.allowing(
        "127.0.0.0/8", resolver=resolver_for({"api.test": ["127.0.0.1"]}, calls)
    )
    engine = Engine(network_policy=policy)
    first = engine.send(RequestConfig(endpoint=f"http://api.test:{api_server.port}/who"))
    second = engine.send(RequestConfig(endpoint=f"http://api.test:{api_server.port}/who"))
    assert first.ok and second.ok
    assert first.value["headers"]["host"] == f"api.test:{api_server.port}"
    # One lookup for the pooled connection: nothing resolves the name a second time.
    assert calls == ["api.test"]


def test_tls_verifies_and_sends_sni_for_the_host_name_while_connecting_to_the_pinned_ip() -> None:
    server_tls, client_tls = self_signed_tls("api.test")
    with LocalServer(tls=server_tls) as server:
        server.route("/secure", echo())
        policy = NetworkPolicy.allowing(
            "127.0.0.0/8", resolver=resolver_for({"api.test": ["127.0.0.1"]})
        )
        result = Engine(network_policy=policy, verify=client_tls).send(
            RequestConfig(endpoint=f"https://api.test:{server.port}/secure")
        )
        assert result.ok, result.error
        assert server.server_names == ["api.test"]
        assert result.value["headers"]["host"] == f"api.test:{server.port}"


def test_a_certificate_for_another_name_is_refused() -> None:
    server_tls, client_tls = self_signed_tls("other.test")
    with LocalServer(tls=server_tls) as server:
        server.route("/secure", echo())
        policy = NetworkPolicy.allowing(
            "127.0.0.0/8", resolver=resolver_for({"api.test": ["127.0.0.1"]})
        )
        result = Engine(network_policy=policy, verify=client_tls).send(
            RequestConfig(endpoint=f"https://api.test:{server.port}/secure", retry={"attempts": 1})
        )
        assert isinstance(result.error, NetworkError)
        assert server.count() == 0


def test_each_redirect_hop_is_checked_again(api_server: LocalServer) -> None:
    # Loopback 127.0.0.1 is allowed, 127.0.0.2 is not: the hop must be refused.
    api_server.route("/go", redirect(f"http://127.0.0.2:{api_server.port}/landing"))
    api_server.route("/landing", json_reply({"landed": True}))
    engine = Engine(network_policy=NetworkPolicy.allowing("127.0.0.1/32"))
    result = engine.send(RequestConfig(endpoint=api_server.url("/go")))
    assert isinstance(result.error, BlockedAddressError)
    assert api_server.count("/landing") == 0
    assert [hop.status for hop in result.debug.attempts[0].hops] == [302]


def test_a_redirect_to_the_metadata_address_is_refused(api_server: LocalServer) -> None:
    api_server.route("/go", redirect("http://169.254.169.254/latest/meta-data/"))
    engine = Engine(network_policy=NetworkPolicy.allowing("127.0.0.0/8", resolver=no_dns))
    result = engine.send(RequestConfig(endpoint=api_server.url("/go")))
    assert isinstance(result.error, BlockedAddressError)


def test_a_redirect_to_a_file_url_is_refused(engine: Engine, api_server: LocalServer) -> None:
    api_server.route("/go", redirect("file:///etc/passwd"))
    result = engine.send(RequestConfig(endpoint=api_server.url("/go")))
    assert isinstance(result.error, BlockedAddressError)


def test_an_endpoint_rendering_to_another_scheme_is_refused(engine: Engine) -> None:
    config = RequestConfig(endpoint="{{ row.url }}")
    result = engine.send(config, context=TemplateContext(row={"url": "file:///etc/passwd"}))
    assert isinstance(result.error, BlockedAddressError)


def test_proxy_environment_variables_cannot_route_around_the_guard(
    api_server: LocalServer, other_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_server.route("/direct", json_reply({"direct": True}))
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, other_server.origin)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # A resolver of its own gives this engine a client created after the variables were set.
    policy = NetworkPolicy.allowing("127.0.0.0/8", resolver=resolver_for({}))
    result = Engine(network_policy=policy).send(RequestConfig(endpoint=api_server.url("/direct")))
    assert result.value == {"direct": True}
    assert other_server.count() == 0
