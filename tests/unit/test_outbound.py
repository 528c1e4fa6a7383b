"""The outbound guard's rules: which addresses are public, which URLs may be bound, what a socket reaches."""

from __future__ import annotations

import re
import socket
from ipaddress import ip_address

import aiohttp
import pytest
from aiohttp.abc import ResolveResult

from shared.outbound import (
    AddressRefusedError,
    OutboundGuard,
    TargetRefusedError,
    check_target,
    is_public,
    refusal,
)

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8 (DNS64 on an IPv6-only network)
]

NOT_PUBLIC = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback range"),
    ("0.0.0.0", "unspecified"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "CGNAT"),
    ("169.254.1.1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "ECS task metadata"),
    ("100.100.100.200", "Alibaba metadata"),
    ("168.63.129.16", "Azure WireServer, a public address"),
    ("192.0.0.192", "Oracle metadata"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::1", "IPv6 loopback"),
    ("::", "IPv6 unspecified"),
    ("fe80::1", "IPv6 link-local"),
    ("fe80::1%1", "IPv6 link-local with a zone"),
    ("fc00::1", "unique local"),
    ("fd00:ec2::254", "AWS metadata over IPv6"),
    ("fec0::1", "site-local"),
    ("ff02::1", "IPv6 multicast"),
    ("2001:db8::1", "IPv6 documentation"),
    ("3fff::1", "IPv6 documentation"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.0.0.1", "IPv4-compatible private"),
    ("2002:7f00:1::1", "6to4 of loopback"),
    ("2002:a9fe:a9fe::1", "6to4 of the metadata address"),
    ("64:ff9b::7f00:1", "NAT64 of loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of the metadata address"),
    ("64:ff9b:1::1", "NAT64 for local use"),
    ("2001::1", "Teredo"),
    ("100::1", "discard"),
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ip_address(address))


@pytest.mark.parametrize(("address", "why"), NOT_PUBLIC, ids=[a for a, _ in NOT_PUBLIC])
def test_other_addresses_are_refused(address: str, why: str) -> None:
    assert not is_public(ip_address(address)), why


REFUSED_URLS = [
    ("http://8.8.8.8/hook", "must start with https://"),
    ("ftp://8.8.8.8/hook", "must start with https://"),
    ("https:///hook", "has no host"),
    ("https://api.day.app@8.8.8.8/push", "user name or password"),
    ("https://user:pw@8.8.8.8/push", "user name or password"),
    ("https://8.8.8.8:99999/", "invalid port"),
    ("https://127.0.0.1/hook", "127.0.0.1 is not a public address"),
    ("https://[::1]/hook", "::1 is not a public address"),
    ("https://[::ffff:169.254.169.254]/", "not a public address"),
    ("https://169.254.169.254/latest/meta-data/", "not a public address"),
    ("https://localhost:8443/hook", "localhost is not a public address"),
    ("https://2130706433/hook", "not a public address"),  # 127.0.0.1 as one number
    ("https://no-such-host.invalid/hook", "cannot be resolved"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
async def test_binding_refuses(url: str, reason: str) -> None:
    with pytest.raises(TargetRefusedError, match=re.escape(reason)):
        await check_target(url, allow_private=False)


async def test_binding_takes_a_public_address_on_any_port() -> None:
    await check_target("https://8.8.8.8:8443/hook?x=1", allow_private=False)
    await check_target("https://[2606:4700:4700::1111]/hook", allow_private=False)


async def test_allowing_private_targets_still_checks_the_form() -> None:
    await check_target("http://127.0.0.1:8080/hook", allow_private=True, schemes=("https", "http"))
    with pytest.raises(TargetRefusedError, match="user name or password"):
        await check_target("https://a@127.0.0.1/", allow_private=True)
    with pytest.raises(TargetRefusedError, match="must start with"):
        await check_target("http://127.0.0.1/", allow_private=True)


def _addr_info(
    address: str, port: int
) -> tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[object, ...]]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr: tuple[object, ...] = (address, port, 0, 0) if ":" in address else (address, port)
    return family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr


def test_a_socket_to_a_non_public_address_is_never_made() -> None:
    guard = OutboundGuard()
    with pytest.raises(AddressRefusedError, match=re.escape("127.0.0.1 is not a public address")):
        guard.socket(_addr_info("127.0.0.1", 80))
    with pytest.raises(AddressRefusedError):
        guard.socket(_addr_info("::ffff:169.254.169.254", 80))
    sock = guard.socket(_addr_info("8.8.8.8", 443))
    sock.close()


def test_the_operators_endpoints_are_trusted_on_their_port_only() -> None:
    guard = OutboundGuard(trusted_urls=["http://127.0.0.1:8090", "https://bark.internal", "not a url"])
    assert guard.permits(ip_address("127.0.0.1"), 8090)
    assert not guard.permits(ip_address("127.0.0.1"), 8091)

    def result(host: str) -> ResolveResult:
        return {"hostname": "bark.internal", "host": host, "port": 443, "family": 2, "proto": 0, "flags": 0}

    assert guard.keep("BARK.internal.", 443, [result("10.0.0.7")]) == [result("10.0.0.7")]
    assert guard.permits(ip_address("10.0.0.7"), 443)
    assert not guard.permits(ip_address("10.0.0.7"), 22)
    assert guard.keep("evil.example", 443, [result("10.0.0.8"), result("8.8.8.8")]) == [result("8.8.8.8")]


def test_a_refusal_is_found_inside_aiohttps_errors() -> None:
    refused = AddressRefusedError("10.0.0.1 is not a public address")
    key = aiohttp.client_reqrep.ConnectionKey("h", 80, False, True, None, None, None)
    wrapped = aiohttp.ClientConnectorError(key, refused)
    assert refusal(wrapped) is refused
    assert isinstance(refused, OSError) and isinstance(refused, TargetRefusedError)
    assert refusal(aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))) is None
    assert refusal(ValueError("other")) is None
