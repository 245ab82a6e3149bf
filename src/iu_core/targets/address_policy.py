"""Which addresses an HTTP target may contact (SSRF policy), and the one DNS lookup.

``check_address`` is a pure function: an IP address and the route's
``allow_networks`` in, a decision with a one-line reason out. It refuses every
address that is not ordinary public unicast — loopback, private, link-local,
CGNAT, unspecified, multicast, broadcast, reserved, benchmarking and
documentation ranges — and looks *through* the IPv6 encodings of IPv4
(IPv4-mapped, NAT64, 6to4, Teredo) so that ``::ffff:127.0.0.1`` or
``2002:7f00:1::`` is refused like ``127.0.0.1``. A route's ``allow_networks``
lets an operator open exactly the networks they mean (tests use 127.0.0.0/8).

``resolve_checked`` is the resolver step: it resolves a host ONCE and checks
every address it got. The HTTP client then connects to those checked
addresses only (see ``http/client.py``), so DNS rebinding cannot swap in
another address between the check and the connection.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AddressDecision",
    "AddressRefused",
    "IPAddress",
    "IPNetwork",
    "check_address",
    "check_resolved",
    "parse_networks",
    "resolve_checked",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(Exception):
    """The host resolved to an address the policy refuses, or did not resolve."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class AddressDecision:
    """Whether one address may be contacted, and why (one line)."""

    allowed: bool
    reason: str


def _v4(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


def _v6(cidr: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(cidr)


# Explicit tables rather than ipaddress's is_private/is_global, whose meaning
# changed between Python releases. First match wins: specific ranges first.
_IPV4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_v4("255.255.255.255/32"), "broadcast"),
    (_v4("0.0.0.0/8"), "unspecified ('this network', RFC 1122)"),
    (_v4("10.0.0.0/8"), "private (RFC 1918)"),
    (_v4("100.64.0.0/10"), "shared address space (CGNAT, RFC 6598)"),
    (_v4("127.0.0.0/8"), "loopback"),
    (_v4("169.254.0.0/16"), "link-local"),
    (_v4("172.16.0.0/12"), "private (RFC 1918)"),
    (_v4("192.0.0.0/24"), "IETF protocol assignments (RFC 6890)"),
    (_v4("192.0.2.0/24"), "documentation (TEST-NET-1)"),
    (_v4("192.88.99.0/24"), "6to4 relay anycast (deprecated)"),
    (_v4("192.168.0.0/16"), "private (RFC 1918)"),
    (_v4("198.18.0.0/15"), "benchmarking (RFC 2544)"),
    (_v4("198.51.100.0/24"), "documentation (TEST-NET-2)"),
    (_v4("203.0.113.0/24"), "documentation (TEST-NET-3)"),
    (_v4("224.0.0.0/4"), "multicast"),
    (_v4("240.0.0.0/4"), "reserved"),
)

_IPV6_MAPPED = _v6("::ffff:0:0/96")  # IPv4-mapped: the socket reaches the IPv4 itself
_IPV6_COMPATIBLE = _v6("::/96")  # IPv4-compatible (deprecated, RFC 4291)
_NAT64_WKP = _v6("64:ff9b::/96")  # NAT64 well-known prefix: last 32 bits are the IPv4
_TEREDO = _v6("2001::/32")  # Teredo: server and (obfuscated) client IPv4 inside
_SIXTOFOUR = _v6("2002::/16")  # 6to4: bits 16..48 are the IPv4

_IPV6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_v6("::/128"), "unspecified"),
    (_v6("::1/128"), "loopback"),
    (_v6("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)"),
    (_v6("100::/64"), "discard-only (RFC 6666)"),
    (_v6("2001:db8::/32"), "documentation"),
    (_v6("2001:2::/48"), "benchmarking (RFC 5180)"),
    (_v6("2001::/23"), "IETF protocol assignments (RFC 2928)"),
    (_v6("3fff::/20"), "documentation (RFC 9637)"),
    (_v6("5f00::/16"), "SRv6 SIDs (RFC 9602)"),
    (_v6("fc00::/7"), "unique local (private, RFC 4193)"),
    (_v6("fe80::/10"), "link-local"),
    (_v6("fec0::/10"), "site-local (deprecated)"),
    (_v6("ff00::/8"), "multicast"),
)
_IPV6_GLOBAL_UNICAST = _v6("2000::/3")


def parse_networks(networks: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """CIDR strings (or network objects, as psycopg returns ``cidr``) as networks."""
    parsed: list[IPNetwork] = []
    for net in networks:
        parsed.append(net if isinstance(net, IPNetwork) else ipaddress.ip_network(str(net), strict=False))
    return tuple(parsed)


def _in_any(ip: IPAddress, networks: Sequence[IPNetwork]) -> IPNetwork | None:
    for net in networks:
        if ip.version == net.version and ip in net:
            return net
    return None


def _refused_v4(ip: ipaddress.IPv4Address) -> str | None:
    for net, why in _IPV4_REFUSED:
        if ip in net:
            return why
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 address(es) an IPv6 encoding carries, with the encoding's name."""
    if ip in _IPV6_MAPPED:
        return "IPv4-mapped", [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in _NAT64_WKP:
        return "NAT64", [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in _SIXTOFOUR:
        return "6to4", [ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)]
    if ip in _TEREDO:
        server = ipaddress.IPv4Address((int(ip) >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address(~int(ip) & 0xFFFFFFFF)
        return "Teredo", [server, client]
    return None


def _refused_v6(ip: ipaddress.IPv6Address) -> str | None:
    embedded = _embedded_v4(ip)
    if embedded is not None:
        encoding, v4s = embedded
        for v4 in v4s:
            why = _refused_v4(v4)
            if why is not None:
                return f"{encoding} encoding of {v4}: {why}"
        return None  # the encoding of public IPv4 address(es)
    if ip in _IPV6_COMPATIBLE and int(ip) > 1:
        return "IPv4-compatible IPv6 (deprecated, RFC 4291)"
    for net, why in _IPV6_REFUSED:
        if ip in net:
            return why
    if ip not in _IPV6_GLOBAL_UNICAST:
        return "reserved (outside global unicast 2000::/3)"
    return None


def check_address(address: str | IPAddress, allow_networks: Sequence[IPNetwork] = ()) -> AddressDecision:
    """May an HTTP target connect to ``address``? Pure: no I/O.

    ``allow_networks`` wins over every refusal. An IPv4-mapped IPv6 address
    is matched against the allowed networks by its IPv4 too, since a socket
    connecting to ``::ffff:a.b.c.d`` reaches ``a.b.c.d``.
    """
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return AddressDecision(False, f"{address!r} is not an IP address")
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    allowed_by = _in_any(ip, allow_networks)
    if allowed_by is None and isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        allowed_by = _in_any(ip.ipv4_mapped, allow_networks)
    if allowed_by is not None:
        return AddressDecision(True, f"{ip} allowed by the route's network {allowed_by}")
    why = _refused_v4(ip) if isinstance(ip, ipaddress.IPv4Address) else _refused_v6(ip)
    if why is not None:
        return AddressDecision(False, f"address {ip} is refused: {why}")
    return AddressDecision(True, f"{ip} is public unicast")


async def resolve_checked(host: str, port: int, allow_networks: Sequence[IPNetwork] = ()) -> list[str]:
    """Resolve ``host`` once and return its addresses, if EVERY one is allowed.

    One refused address refuses the host: a DNS answer mixing public and
    internal addresses is exactly what a rebinding attack looks like.
    Raises ``AddressRefused`` (permanent when refused by policy, retryable
    when the name does not resolve: DNS failures are usually transient).
    The lookup is ``socket.getaddrinfo`` in the loop's executor, on every
    event loop alike (uvloop's own resolver is not used).
    """
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    lookup = functools.partial(
        socket.getaddrinfo, literal, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    try:
        infos = await asyncio.get_running_loop().run_in_executor(None, lookup)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve host {host!r}: {exc}", retryable=True) from exc
    return check_resolved(host, infos, allow_networks)


def check_resolved(
    host: str, infos: Sequence[tuple[Any, ...]], allow_networks: Sequence[IPNetwork] = ()
) -> list[str]:
    """The addresses of one ``getaddrinfo`` answer for ``host``, if EVERY one is allowed.

    The rule ``resolve_checked`` applies to the answer (pure: no I/O).
    """
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = str(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise AddressRefused(f"host {host!r} resolved to no address", retryable=True)
    for ip in addresses:
        decision = check_address(ip, allow_networks)
        if not decision.allowed:
            where = "" if ip == literal else f"host {host!r} resolves to "
            raise AddressRefused(f"{where}{decision.reason} (the route's allow_networks does not list it)")
    return addresses
