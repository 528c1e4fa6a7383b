"""Calls to addresses users supply (Bark servers, webhooks): only to the public internet unless allowed.

A user could otherwise make iGot call into the network it runs in (a cloud metadata service, an admin
port on localhost, a database on the private network). Three guards stand in the way:

* `check_target` refuses such a URL when a way is bound, with a reason the user can read;
* `PublicOnlyResolver` drops every non-public address a name resolves to when a connection is made, so
  a name that resolved to a public address at binding time and to a private one later (DNS rebinding)
  is refused all the same;
* the socket factory of `GuardedConnector` checks the address of every socket before it connects. It
  is the guard that cannot be bypassed: aiohttp connects to an IP literal in a URL without asking any
  resolver, and a redirect, if a caller follows one, connects through it too.

What is public (`is_public`): globally routable unicast. Refused are private, loopback, link-local,
CGNAT (100.64/10), multicast, reserved and documentation ranges, IPv6 site-local, the cloud metadata
endpoints (also the public one, Azure's 168.63.129.16), and IPv6 forms that carry an IPv4 address
(IPv4-mapped, IPv4-compatible, 6to4, NAT64) whenever that IPv4 address is not public. Any port is
allowed: a user can only reach public addresses, whose ports are theirs to expose anyway.

The operator's own endpoints (`IGOT_BARK_SERVER`, `IGOT_WECHAT_API_BASE`) are trusted wherever they
are, on the port they name. `IGOT_ALLOW_PRIVATE_TARGETS=true` lifts every guard, for receivers on
one's own network.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IpAddress], bool]

# Instance metadata services: credentials live there. Most sit in ranges refused anyway; listed so
# that no future change of those rules lets one through, and for the one that is public (Azure).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, Tencent
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "192.0.0.192",  # Oracle Cloud (older)
    )
)
# Not routable on the internet, though this Python's `is_global` lets them through.
NOT_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "192.0.0.0/24",  # IETF protocol assignments
        "fec0::/10",  # IPv6 site-local (deprecated, still routed inside some networks)
        "64:ff9b:1::/48",  # NAT64 for local use
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class TargetRefusedError(ValueError):
    """The address may not be called: its reason says why, safe to show to the user."""


class AddressRefusedError(TargetRefusedError, OSError):
    """A connection to a non-public address was refused at connect time. An OSError, which aiohttp
    reports as a `ClientConnectorError` with this as its cause."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: IPv4-mapped, IPv4-compatible, 6to4 or NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IpAddress) -> bool:
    """Globally routable unicast, and no cloud metadata endpoint (see the module's description)."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(int(address))  # the zone does not change where it leads
    if address in METADATA_ADDRESSES or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
        if address.is_reserved or address.is_site_local:
            return False
    if any(address in network for network in NOT_GLOBAL if network.version == address.version):
        return False
    return address.is_global


async def check_target(url: str, *, allow_private: bool, schemes: tuple[str, ...] = ("https",)) -> None:
    """Raise `TargetRefusedError` unless `url` is an absolute URL of an allowed scheme, without a user
    name or password, whose host resolves only to public addresses (any address when `allow_private`)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in schemes:
        raise TargetRefusedError(f"the address must start with {' or '.join(s + '://' for s in schemes)}")
    host = parts.hostname
    if not host:
        raise TargetRefusedError("the address has no host")
    if parts.username is not None or parts.password is not None:
        # `https://api.day.app@evil.example/` reads as one host and calls another.
        raise TargetRefusedError("the address may not contain a user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise TargetRefusedError("the address has an invalid port") from error
    if allow_private:
        return
    for address in await resolve(host, port):
        if not is_public(address):
            raise TargetRefusedError(f"{host} is not a public address")


async def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address `host` stands for (an IP literal for itself); `TargetRefusedError` if none."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise TargetRefusedError(f"{host} cannot be resolved") from error
    if not infos:
        raise TargetRefusedError(f"{host} cannot be resolved")
    return [_address(str(info[4][0])) for info in infos]


def refusal(error: BaseException) -> TargetRefusedError | None:
    """The guards' refusal, if that is what `error` (an aiohttp client error, as a channel sees it)
    comes from; None for any other failure."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TargetRefusedError):
            return current
        pending.extend((getattr(current, "os_error", None), current.__cause__, current.__context__))
    return None


def _address(text: str) -> IpAddress:
    return ipaddress.ip_address(text.split("%")[0])


def _endpoint(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return None
    return _host_key(parts.hostname), parts.port or (443 if parts.scheme == "https" else 80)


def _host_key(host: str) -> str:
    return host.lower().rstrip(".").strip("[]")


class OutboundGuard:
    """Which (address, port) a connection may go to: `allowed` addresses on any port, and wherever the
    trusted endpoints (the operator's URLs) are, on their port."""

    def __init__(self, *, trusted_urls: Iterable[str] = (), allowed: AddressPolicy = is_public) -> None:
        self._allowed = allowed
        self._trusted_endpoints = {e for e in map(_endpoint, trusted_urls) if e is not None}
        self._trusted_addresses: set[tuple[IpAddress, int]] = set()
        for host, port in self._trusted_endpoints:
            with contextlib.suppress(ValueError):  # a name: its addresses are learnt when resolved
                self._trusted_addresses.add((ipaddress.ip_address(host), port))

    def permits(self, address: IpAddress, port: int) -> bool:
        return self._allowed(address) or (address, port) in self._trusted_addresses

    def keep(self, host: str, port: int, results: list[ResolveResult]) -> list[ResolveResult]:
        """The results a connection may use; learns the addresses of trusted endpoints."""
        if (_host_key(host), port) in self._trusted_endpoints:
            self._trusted_addresses.update((_address(r["host"]), port) for r in results)
            return results
        return [r for r in results if self.permits(_address(r["host"]), port)]

    def socket(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's socket factory: called with the exact address just before every connect."""
        family, kind, proto, _, sockaddr = addr_info
        address, port = _address(str(sockaddr[0])), int(sockaddr[1])
        if not self.permits(address, port):
            raise AddressRefusedError(f"{address} is not a public address")
        return socket.socket(family=family, type=kind, proto=proto)


class PublicOnlyResolver(AbstractResolver):
    """Resolves with another resolver (aiohttp's default) and keeps what the guard permits; with
    nothing left it raises `AddressRefusedError`, which aiohttp reports as a connector error."""

    def __init__(self, guard: OutboundGuard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        kept = self._guard.keep(host, port, await self._inner.resolve(host, port, family))
        if not kept:
            raise AddressRefusedError(f"{host} is not a public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


class GuardedConnector(aiohttp.TCPConnector):
    """A `TCPConnector` that connects to what `guard` permits only, names and IP literals alike."""

    def __init__(
        self, guard: OutboundGuard, *, resolver: AbstractResolver | None = None, **options: Any
    ) -> None:
        self._public_resolver = PublicOnlyResolver(guard, resolver)
        super().__init__(resolver=self._public_resolver, socket_factory=guard.socket, **options)

    async def close(self, *, abort_ssl: bool = False) -> None:
        await super().close(abort_ssl=abort_ssl)
        await self._public_resolver.close()


def outbound_connector(
    *,
    allow_private: bool,
    trusted_urls: Iterable[str] = (),
    resolver: AbstractResolver | None = None,
    allowed: AddressPolicy = is_public,
    **options: Any,
) -> aiohttp.TCPConnector:
    """The connector of the process's outbound session: guarded unless `allow_private`. `options` go
    to `TCPConnector` (pool limits); `resolver` and `allowed` replace the defaults in tests."""
    if allow_private:
        return aiohttp.TCPConnector(resolver=resolver, **options)
    guard = OutboundGuard(trusted_urls=trusted_urls, allowed=allowed)
    return GuardedConnector(guard, resolver=resolver, **options)
