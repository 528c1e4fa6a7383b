"""Which address sign-in limits count: the peer, or the client a trusted proxy vouches for; and how a
client is keyed (IPv6 by /64)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from services.auth.login_limiter import client_key
from shared.settings import Settings
from shared.web import SETTINGS, client_address


def request_from(peer: str, forwarded: str | list[str] | None, trusted: list[str]) -> web.Request:
    app = web.Application()
    app[SETTINGS] = Settings(trusted_proxies=tuple(trusted))
    headers: CIMultiDict[str] = CIMultiDict()
    for value in [forwarded] if isinstance(forwarded, str) else forwarded or []:
        headers.add("X-Forwarded-For", value)
    request = make_mocked_request("POST", "/open/user/login", headers=headers, app=app)
    return request.clone(remote=peer)


PROXY = ["10.0.0.2/32"]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", None, [], "203.0.113.9"),
        # Without trusted proxies the header is the client's own claim: ignored.
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),
        # A peer that is no trusted proxy is the client, whatever it claims.
        ("203.0.113.9", "198.51.100.1", PROXY, "203.0.113.9"),
        ("10.0.0.3", "198.51.100.1", PROXY, "10.0.0.3"),
        ("10.0.0.2", "198.51.100.1", PROXY, "198.51.100.1"),
        # The first untrusted hop from the right is the client; what it wrote to its left is ignored.
        ("10.0.0.2", "1.1.1.1, 198.51.100.1", PROXY, "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 10.0.0.7", PROXY, "10.0.0.7"),
        # Proxies in a chain are walked through while they are trusted.
        ("10.1.2.3", "1.1.1.1, 198.51.100.1, 10.9.9.9", ["10.0.0.0/8"], "198.51.100.1"),
        # Several header lines are one list, in order.
        ("10.0.0.2", ["1.1.1.1", "198.51.100.1"], PROXY, "198.51.100.1"),
        ("10.0.0.2", None, PROXY, "10.0.0.2"),
        # A hop that is no address was not written by a proxy of ours: the last vouched address counts.
        ("10.0.0.2", "not-an-ip", PROXY, "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, not-an-ip", PROXY, "10.0.0.2"),
        ("10.1.2.3", "not-an-ip, 10.9.9.9", ["10.0.0.0/8"], "10.9.9.9"),
        # Ports and brackets as some proxies write them.
        ("10.0.0.2", "198.51.100.1:5123", PROXY, "198.51.100.1"),
        ("10.0.0.2", "[2001:db8::5]:443", PROXY, "2001:db8::5"),
        ("::1", "2001:db8::5", ["::1/128"], "2001:db8::5"),
    ],
)
def test_client_address(
    peer: str, forwarded: str | list[str] | None, trusted: list[str], expected: str
) -> None:
    assert client_address(request_from(peer, forwarded, trusted)) == expected


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        # One subscriber usually holds a whole /64: rotating within it is one client.
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("unknown", "unknown"),
    ],
)
def test_client_key(address: str, key: str) -> None:
    assert client_key(address) == key
