"""The SSRF address policy as a pure function: no traffic at all.

(End to end — a route to a 127.0.0.1 server that does not allow loopback is
refused and the server sees nothing — is in test_http_endpoint.py.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from iu_core.targets.address_policy import (
    AddressRefused,
    IPNetwork,
    check_address,
    parse_networks,
    resolve_checked,
)

REFUSED = [
    # IPv4
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata address
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.255", "CGNAT"),
    ("192.0.0.8", "IETF protocol"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("192.88.99.1", "6to4 relay"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%1", "link-local"),
    ("fc00::1", "unique local"),
    ("fd12:3456:789a::1", "unique local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001:2::1", "benchmarking"),
    ("100::1", "discard-only"),
    ("2001:10::1", "IETF protocol"),
    ("5f00::1", "SRv6"),
    ("4000::1", "reserved"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    # IPv4 inside IPv6: refused like the IPv4 they carry
    ("::ffff:127.0.0.1", "IPv4-mapped encoding of 127.0.0.1: loopback"),
    ("::ffff:10.1.2.3", "IPv4-mapped encoding of 10.1.2.3: private"),
    ("::ffff:169.254.169.254", "IPv4-mapped encoding of 169.254.169.254: link-local"),
    ("::ffff:0.0.0.0", "IPv4-mapped encoding of 0.0.0.0"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::8.8.8.8", "IPv4-compatible"),
    ("64:ff9b::127.0.0.1", "NAT64 encoding of 127.0.0.1: loopback"),
    ("64:ff9b::192.168.0.1", "NAT64 encoding of 192.168.0.1: private"),
    ("2002:7f00:1::", "6to4 encoding of 127.0.0.1: loopback"),
    ("2002:a9fe:a9fe::1", "6to4 encoding of 169.254.169.254: link-local"),
    ("2002:c0a8:101::1", "6to4 encoding of 192.168.1.1: private"),
    # Teredo: server 127.0.0.1; client 10.0.0.1 (stored inverted in the last 32 bits)
    ("2001:0:7f00:1:0:0:f5ff:fffe", "Teredo encoding of 127.0.0.1: loopback"),
    ("2001:0:808:808:8000:0:f5ff:fffe", "Teredo encoding of 10.0.0.1: private"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above
    "172.15.255.255",
    "172.32.0.0",
    "169.253.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:82a::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
    "2001:0:808:808:8000:0:f7f7:f7f7",  # Teredo between public addresses
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_refused(address: str, why: str) -> None:
    decision = check_address(address)
    assert decision.allowed is False
    assert why in decision.reason
    assert decision.reason.startswith("address ")


@pytest.mark.parametrize("address", ALLOWED)
def test_public_unicast_allowed(address: str) -> None:
    decision = check_address(address)
    assert decision.allowed is True, decision.reason


def test_allow_networks_open_exactly_what_they_list() -> None:
    loopback = parse_networks(["127.0.0.0/8"])
    assert check_address("127.0.0.1", loopback).allowed
    assert check_address("127.1.2.3", loopback).allowed
    assert check_address("::ffff:127.0.0.1", loopback).allowed  # reaches 127.0.0.1 itself
    assert not check_address("::1", loopback).allowed
    assert not check_address("10.0.0.1", loopback).allowed
    assert not check_address("169.254.169.254", loopback).allowed
    assert not check_address("2002:7f00:1::", loopback).allowed  # a 6to4 relay is not the local host
    one_host = parse_networks([ipaddress.ip_network("10.1.2.3/32"), "fd00::/8"])
    assert check_address("10.1.2.3", one_host).allowed
    assert not check_address("10.1.2.4", one_host).allowed
    assert check_address("fd00::5", one_host).allowed
    assert "allowed by the route's network 10.1.2.3/32" in check_address("10.1.2.3", one_host).reason


def test_not_an_address() -> None:
    decision = check_address("example.com")
    assert decision.allowed is False and "not an IP address" in decision.reason


def _resolve(host: str, port: int, allow: tuple[IPNetwork, ...] = ()) -> list[str]:
    """The client's resolver step (one lookup, every address checked), run to completion."""
    return asyncio.run(resolve_checked(host, port, allow))


def test_resolve_checked_refuses_literals_and_localhost_without_traffic() -> None:
    # Resolving an IP literal or "localhost" needs no network; nothing is sent anywhere.
    with pytest.raises(AddressRefused, match="loopback") as refused:
        _resolve("127.0.0.1", 80)
    assert refused.value.retryable is False
    with pytest.raises(AddressRefused, match=r"host 'localhost' resolves to address .* loopback"):
        _resolve("localhost", 80)
    with pytest.raises(AddressRefused, match="IPv4-mapped"):
        _resolve("[::ffff:10.0.0.1]", 80)
    assert _resolve("127.0.0.1", 80, parse_networks(["127.0.0.0/8"])) == ["127.0.0.1"]


def test_unresolvable_host_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    # A DNS failure is usually transient. Simulated: a test never sends a DNS query.
    def no_dns(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(AddressRefused, match="cannot resolve") as refused:
        _resolve("receiver.example", 443)
    assert refused.value.retryable is True


def test_one_refused_address_refuses_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # A rebinding-style answer: one public and one internal address. Simulated DNS answer.
    def answer(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", answer)
    with pytest.raises(AddressRefused, match=r"host 'receiver\.example' resolves to address 10\.0\.0\.7"):
        _resolve("receiver.example", 443)
