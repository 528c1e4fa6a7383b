"""Which address the login limiter counts: the peer, or the client behind a trusted proxy."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from shared.settings import Settings
from shared.web import SETTINGS, client_address


def request_from(peer: str, forwarded: str | None, trusted: list[str]) -> web.Request:
    app = web.Application()
    app[SETTINGS] = Settings(trusted_proxies=tuple(trusted))
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    request = make_mocked_request("POST", "/open/user/login", headers=headers, app=app)
    return request.clone(remote=peer)


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", None, [], "203.0.113.9"),
        # Without trusted proxies the header is the client's own claim: ignored.
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),
        ("10.1.2.3", "198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        # A client cannot hide behind a forged first hop: the last untrusted hop counts.
        ("10.1.2.3", "1.1.1.1, 198.51.100.1, 10.9.9.9", ["10.0.0.0/8"], "198.51.100.1"),
        ("10.1.2.3", None, ["10.0.0.0/8"], "10.1.2.3"),
        ("10.1.2.3", "not-an-ip", ["10.0.0.0/8"], "not-an-ip"),
        ("203.0.113.9", "198.51.100.1", ["10.0.0.0/8"], "203.0.113.9"),
        ("::1", "2001:db8::5", ["::1/128"], "2001:db8::5"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, trusted: list[str], expected: str) -> None:
    assert client_address(request_from(peer, forwarded, trusted)) == expected
