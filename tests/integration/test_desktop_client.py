"""The desktop client (Electron-iGot 1.1.4) against iGot unchanged, in both modes: every call it makes,
replayed byte for byte through one base URL (in distributed mode routed as the compose proxy routes it).

Every answer must be HTTP 200 with a JSON envelope whose `data` is an object (the client treats any
other status as a network failure), must allow the `file://` origin after a preflight, and must carry no
`token` field but sign-in's (the client replaces its session with any `data.token` it sees).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tests.deploy.test_manifests import _caddy_route
from tests.integration.desktop_replay import keys_in, preflight_bytes, request_bytes, send
from tests.integration.processes import Deployment
from tests.waiting import eventually

EMAIL = "desktop@example.com"
HOSTILE = "<img src=x onerror=alert(1)> pay a(b now"


class DesktopClient:
    """The client's calls, sent where its single base URL would take them."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.token = ""

    def base_for(self, path: str) -> str:
        if self.deployment.auth_url == self.deployment.gateway_url:
            return self.deployment.gateway_url
        upstream = _caddy_route(path).rsplit(":", 1)[0]
        return self.deployment.auth_url if upstream == "auth" else self.deployment.gateway_url

    async def call(self, method: str, target: str, body: Any = None) -> dict[str, Any]:
        """Preflight, then the call itself; the envelope, after the checks every answer must pass."""
        path = target.split("?", 1)[0]
        base = self.base_for(path)
        host = urlsplit(base).netloc
        preflight = await send(base, preflight_bytes(method, target, host=host))
        assert preflight.status == 204, (target, preflight)
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert method in preflight.headers["access-control-allow-methods"]
        assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
        raw = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        answer = await send(base, request_bytes(method, target, host=host, token=self.token, body=raw))
        assert answer.status == 200, (target, answer)
        assert answer.headers["content-type"].startswith("application/json"), (target, answer)
        assert answer.headers["access-control-allow-origin"] == "*", target
        envelope = answer.json()
        assert set(envelope) == {"ret", "data", "errMsg"}, (target, envelope)
        assert isinstance(envelope["data"], dict), (target, envelope)
        if path != "/open/user/login":
            assert "token" not in set(keys_in(envelope["data"])), (target, envelope)
        return envelope


async def _push(deployment: Deployment, key: str, **fields: Any) -> str:
    url = f"{deployment.gateway_url}/{key}"
    async with aiohttp.ClientSession() as session, session.post(url, json=fields) as response:
        answer = await response.json()
    assert answer["ret"] == 0, answer
    message_id: str = answer["data"]["id"]
    return message_id


async def test_the_desktop_client_works_unchanged(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", EMAIL)["key"]
    code = deployment.cli_json("user", "login-code", EMAIL)["code"]
    assert len(code) == 6  # the client's code box has six cells and signs in once all are filled
    client = DesktopClient(deployment)

    # The renderer's version check, then sign-in with `token=` still empty.
    version = await client.call("GET", "/client/version/?st=2026-11-29T10:00:00.000Z")
    releases = "https://github.com/wahao/Electron-iGot/releases"
    assert version["data"] == {
        "version": {"version": "1.1.4", "intro": "", "url": {"mac": releases, "win": releases}}
    }
    wrong = await client.call("POST", "/open/user/login", {"code": "zzzzzz"})
    assert wrong["ret"] == 303
    login = await client.call("POST", "/open/user/login", {"code": code.upper()})
    assert login["ret"] == 0
    client.token = login["data"]["token"]

    # Its inbox: the list (also its auto sign-in check), a message, deleting one.
    hostile_id = await _push(deployment, key, title="<b>bold</b>", content=HOSTILE, copy="a(b")
    plain_id = await _push(deployment, key, content="plain text")

    async def both_arrived() -> bool:
        listed = await client.call("GET", "/open/message/?index=1&size=20")
        return bool(listed["ret"] == 0 and listed["data"]["count"] == 2)

    await eventually(both_arrived, what="both messages in the inbox")
    listed = await client.call("GET", "/open/message/?index=1&size=20")
    assert [shown["id"] for shown in listed["data"]["messages"]] == [plain_id, hostile_id]
    # The list is shown as text by the client: as sent.
    assert listed["data"]["messages"][1]["body"]["content"] == HOSTILE

    detail = (await client.call("GET", f"/open/message/{hostile_id}"))["data"]["message"]
    # The detail's content goes into the page as HTML: escaped, it shows as the text that was sent.
    assert detail["body"]["content"] == "&lt;img src=x onerror=alert(1)&gt; pay a(b now"
    assert detail["body"]["copyText"] == r"a\(b"  # a pattern that matches the copy text literally
    assert detail["body"]["title"] == "<b>bold</b>"  # shown as text by the client
    assert detail["read"] is True

    deleted = await client.call("POST", f"/open/message/delete/{plain_id}")
    assert deleted["ret"] == 0
    after = await client.call("GET", "/open/message/?index=1&size=20")
    assert [shown["id"] for shown in after["data"]["messages"]] == [hostile_id]
    assert (await client.call("GET", f"/open/message/{plain_id}"))["ret"] == 203

    # Push ways, as its settings page reads and orders them.
    ways = (await client.call("GET", "/open/push-way/"))["data"]["pushWay"]
    assert "bark" in ways["orders"]
    reordered = [*ways["orders"][1:], ways["orders"][0]]
    assert (await client.call("POST", "/open/push-way/orders", {"orders": reordered}))["ret"] == 0
    assert (await client.call("GET", "/open/push-way/"))["data"]["pushWay"]["orders"] == reordered
    assert (await client.call("POST", "/open/push-way/bark/unbind"))["ret"] == 208  # nothing bound

    # Points and account: a self-hosted server has nothing to sell.
    assert (await client.call("GET", "/open/user/info"))["data"] == {"balance": 0, "vip": True}
    assert (await client.call("GET", "/open/jpoint/plans"))["data"] == {"plans": []}
    exchange = await client.call("POST", "/open/jpoint/exchange", {"plan": "month"})
    assert exchange["ret"] == 208 and exchange["errMsg"]

    # Its subscription pages: the creator's links (with the subscribe QR as an absolute image address)
    # and the market.
    created = await client.call("POST", "/open/link/group", {"name": "Desk news", "open": True})
    assert created["ret"] == 0
    mine = (await client.call("GET", "/open/link/group?index=1&size=20"))["data"]["links"]
    assert [link["name"] for link in mine] == ["Desk news"]
    assert mine[0]["subscribe"].startswith("http") and mine[0]["subscribe"].endswith("/qr.png")
    market = (await client.call("GET", "/open/link/group/market?index=1&size=20"))["data"]["links"]
    assert [link["name"] for link in market] == ["Desk news"] and "key" not in market[0]
    missing = await client.call("GET", "/open/relate/?index=1&size=20")
    assert missing["ret"] == 203, missing

    # The main process's own version check: a plain GET without any token parameter.
    url = f"{client.base_for('/client/version/')}/client/version/?st=1"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert (await response.json())["data"]["version"]["version"] == "1.1.4"

    # Logging out ends the session: the next call sends the client back to its sign-in page (3XX).
    assert (await client.call("POST", "/open/user/logout"))["ret"] == 0
    assert (await client.call("GET", "/open/message/?index=1&size=20"))["ret"] == 301
