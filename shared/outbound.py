"""Calls to addresses users supply (Bark servers, webhooks): only to the public internet unless allowed.

A user could otherwise make iGot call into the network it runs in (a cloud metadata service, an admin
port on localhost, a database on the private network). `check_target` refuses such an address when a way
is bound; `PublicOnlyResolver` refuses it again when a connection is made, so a name that resolved to a
public address at binding time and to a private one later (DNS rebinding) is refused all the same.
`IGOT_ALLOW_PRIVATE_TARGETS=true` lifts both, for receivers on one's own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefusedError(ValueError):
    """The address may not be called: its reason says why, safe to show to the user."""


def is_public(address: IpAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local (cloud metadata), multicast, reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


async def check_target(url: str, *, allow_private: bool, schemes: tuple[str, ...] = ("https",)) -> None:
    """Raise `TargetRefusedError` unless `url` is an absolute URL of an allowed scheme whose host resolves
    only to public addresses (any address when `allow_private`)."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise TargetRefusedError(f"the address must start with {' or '.join(s + '://' for s in schemes)}")
    host = parts.hostname
    if not host:
        raise TargetRefusedError("the address has no host")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise TargetRefusedError("the address has an invalid port") from error
    for address in await resolve(host, port):
        if not is_public(address):
            raise TargetRefusedError(f"{host} is not a public address")


async def resolve(host: str, port: int) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise TargetRefusedError(f"{host} cannot be resolved") from error
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
