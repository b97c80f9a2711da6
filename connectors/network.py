"""The SSRF guard: which addresses a request may reach.

Names are resolved here, every resolved address is checked, and the transport connects to the
address that was checked (see ``transport.py``), so a second DNS answer cannot swap in a private
address (DNS rebinding). Host names that are IP literals in any spelling the C library accepts
(``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) are parsed here without any lookup.

The blocked ranges are listed explicitly: ``ipaddress``'s ``is_global`` misses several of them
(100.64/10 in older Pythons, 6to4, Teredo, NAT64) and does not look inside IPv4-mapped IPv6.
"""

from __future__ import annotations

import functools
import re
import socket
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx

from connectors.errors import BlockedAddressError, ConfigError, NetworkError

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

#: Looks up a host name; returns the addresses as strings, like ``getaddrinfo`` would.
Resolver = Callable[[str, int], Sequence[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})

_BLOCKED_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        # Azure's wire server answers metadata-like requests from a public address.
        ("168.63.129.16/32", "cloud metadata"),
    )
)

_BLOCKED_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(cidr), reason)
    for cidr, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible"),
        ("::ffff:0:0:0/96", "IPv4-translated"),
        ("64:ff9b::/96", "NAT64"),
        ("64:ff9b:1::/48", "NAT64"),
        ("100::/64", "discard"),
        ("2001::/32", "Teredo"),
        ("2001::/23", "IETF protocol"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "reserved"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

# Letters, digits, hyphens and underscores in dot-separated labels (IDNA names arrive here
# already as ASCII "xn--" labels). Anything else is refused before it reaches a DNS server.
_HOST_NAME = re.compile(r"^(?=.{1,253}\.?$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?)+$")

_HEX_DIGITS = frozenset(string.hexdigits)
_OCT_DIGITS = frozenset(string.octdigits)
_DEC_DIGITS = frozenset(string.digits)


def classify_address(address: IPAddress) -> str | None:
    """Return why ``address`` is blocked by default (e.g. ``"private"``), or None if public."""
    if isinstance(address, IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return classify_address(mapped)
        for network, reason in _BLOCKED_V6:
            if address in network:
                return reason
    else:
        for network4, reason in _BLOCKED_V4:
            if address in network4:
                return reason
    # A safety net for ranges the tables above do not name (future IANA reservations).
    return None if address.is_global else "reserved"


@functools.lru_cache(maxsize=4096)
def parse_ip_literal(host: str) -> IPAddress | None:
    """Parse ``host`` as an IP address in any spelling ``inet_aton`` accepts, else None.

    Accepts dotted forms with 1 to 4 parts where each part is decimal, octal (leading ``0``)
    or hex (``0x``), e.g. ``2130706433``, ``0x7f.1``, ``0177.0.0.1``; and IPv6 literals with or
    without brackets.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return IPv6Address(text)
        except ValueError:
            return None
    if text.endswith("."):
        text = text[:-1]
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        number = _parse_inet_aton_part(part)
        if number is None:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(n > 0xFF for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = 0
    for n in leading:
        value = value << 8 | n
    value = value << (8 * (4 - len(leading))) | last
    return IPv4Address(value)


def _parse_inet_aton_part(part: str) -> int | None:
    if part[:2].lower() == "0x":
        digits, allowed, base = part[2:], _HEX_DIGITS, 16
        if digits == "":
            return 0
    elif len(part) > 1 and part[0] == "0":
        digits, allowed, base = part[1:], _OCT_DIGITS, 8
    else:
        digits, allowed, base = part, _DEC_DIGITS, 10
    # int() alone would also accept "_", "+" and spaces, which inet_aton does not.
    if not digits or not set(digits) <= allowed:
        return None
    return int(digits, base)


def is_valid_host_name(host: str) -> bool:
    """Whether ``host`` is a syntactically valid DNS name or an IP literal."""
    return parse_ip_literal(host) is not None or _HOST_NAME.match(host) is not None


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the operating system (``getaddrinfo``), in its preferred order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDR strings (``"10.0.0.0/8"``, ``"::1"``) into networks; raise ConfigError if bad."""
    networks: list[IPNetwork] = []
    for cidr in cidrs:
        try:
            networks.append(ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{cidr!r} is not a network in CIDR notation.") from None
    return tuple(networks)


@dataclass(frozen=True)
class NetworkPolicy:
    """Which destinations requests may reach.

    By default every loopback, private, link-local, multicast and reserved address is refused;
    ``allowed_networks`` re-opens chosen networks (tests allow loopback this way).
    """

    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=True)

    @classmethod
    def allowing(cls, *cidrs: str, resolver: Resolver = system_resolver) -> NetworkPolicy:
        """Build a policy that allows the given CIDR networks besides the public internet."""
        return cls(allowed_networks=parse_networks(cidrs), resolver=resolver)

    def is_allowed(self, address: IPAddress) -> bool:
        """Whether a connection to ``address`` is allowed."""
        return self.blocked_reason(address) is None

    def blocked_reason(self, address: IPAddress) -> str | None:
        """Why ``address`` is refused under this policy, or None if it is allowed."""
        mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
        for candidate in (address, mapped):
            if candidate is not None and any(
                candidate.version == network.version and candidate in network
                for network in self.allowed_networks
            ):
                return None
        return classify_address(address)

    def check_url(self, url: httpx.URL) -> None:
        """Refuse non-http(s) URLs and hosts that are blocked IP literals (no DNS lookup)."""
        if url.scheme not in ALLOWED_SCHEMES:
            raise BlockedAddressError(
                f"Only http:// and https:// URLs can be requested, not {url.scheme or 'this'}://."
            )
        if not url.host:
            raise BlockedAddressError("The URL has no host.")
        literal = parse_ip_literal(url.host)
        if literal is not None:
            self._check(literal, url.host, resolved=False)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` and check every address; return them all or raise.

        A name with one blocked address among public ones is refused as a whole: mixing them is
        how rebinding attacks pick whichever answer the client happens to try.
        """
        literal = parse_ip_literal(host)
        if literal is not None:
            self._check(literal, host, resolved=False)
            return [literal]
        if not is_valid_host_name(host):
            raise NetworkError(f"{host} is not a valid host name.")
        try:
            answers = self.resolver(host, port)
        except (OSError, UnicodeError):
            raise NetworkError(f"Could not resolve the host name {host}.") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            address = ip_address(answer)
            self._check(address, host, resolved=True)
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise NetworkError(f"The host name {host} has no address.")
        return addresses

    def _check(self, address: IPAddress, host: str, *, resolved: bool) -> None:
        reason = self.blocked_reason(address)
        if reason is None:
            return
        # The resolved address itself stays out of the message: echoing it would let a user map
        # internal DNS names through the error text.
        subject = f"{host} resolves to" if resolved else f"{host} is"
        raise BlockedAddressError(
            f"{subject} a {reason} address; requests there are not allowed "
            "(an administrator can allow the network)."
        )
