"""WeChat as a user meets it, in both modes, against the fake WeChat API: bind by scanning the QR code,
receive pushes as template messages, and unfollowing unbinds. The callback refuses what WeChat did not
sign and what is not WeChat's XML, and never answers a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.auth.routes.wechat import QR_CODES_PER_USER
from shared.envelope import Ret
from shared.wechat.callback import signature_of
from tests.fakes.wechat_server import APPID, SECRET, TOKEN, WeChatServer
from tests.integration.conftest import deployed
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import get_json, sign_in
from tests.waiting import eventually

EMAIL = "wechat@example.com"
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
TEMPLATE = "tmpl-0123456789"


@dataclass
class World:
    deployment: Deployment
    wechat: WeChatServer
    session: aiohttp.ClientSession
    token: str
    key: str

    async def open(self, path: str) -> dict[str, Any]:
        status, answer = await get_json(
            self.session, f"{self.deployment.auth_url}{path}", params={"token": self.token}
        )
        assert status == 200, answer
        return answer

    async def post(self, path: str) -> dict[str, Any]:
        url = f"{self.deployment.auth_url}{path}"
        async with self.session.post(url, params={"token": self.token}) as response:
            answer: dict[str, Any] = await response.json()
            return answer

    async def wechat_way(self) -> dict[str, Any]:
        way: dict[str, Any] = (await self.open("/open/push-way/"))["data"]["pushWay"]["wechat"]
        return way

    async def callback(self, method: str, params: dict[str, str], body: bytes = b"") -> tuple[int, str]:
        url = f"{self.deployment.auth_url}/wechat/callback"
        async with self.session.request(method, url, params=params, data=body) as response:
            return response.status, await response.text()


@pytest.fixture(params=["standalone", "distributed"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[World]:
    wechat = WeChatServer()
    await wechat.start()
    settings = {
        "wechat_api_base": wechat.url,
        "wechat_qrcode_url": wechat.showqrcode_url,
        "wechat_appid": APPID,
        "wechat_secret": SECRET,
        "wechat_token": TOKEN,
        "wechat_template_id": TEMPLATE,
    }
    try:
        async with (
            deployed(request.param, tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
            aiohttp.ClientSession() as session,
        ):
            wechat.callback_url = f"{deployment.auth_url}/wechat/callback"
            user = deployment.cli_json("user", "create", "--email", EMAIL)
            token = await sign_in(deployment, session, EMAIL)
            yield World(deployment, wechat, session, token, user["key"])
    finally:
        wechat.release()
        await wechat.stop()


async def bind(world: World) -> None:
    answer = await world.open("/open/push-way/wechat/bind")
    assert answer["ret"] == 0, answer
    data = answer["data"]
    assert set(data) == {"qrcode", "ticket", "expireAt"}
    assert data["qrcode"].startswith(f"{world.wechat.showqrcode_url}?ticket=")
    async with world.session.get(data["qrcode"]) as image:
        assert (image.status, image.content_type) == (200, "image/png")
    scene = world.wechat.scene_of(data["ticket"])
    assert scene is not None and world.wechat.calls.qrcodes[-1].expire_seconds == 600
    scanned = await world.wechat.scan(OPENID, scene)
    assert scanned.status == 200 and scanned.text == "success"
    assert await world.wechat_way() == {"key": "oAb****Yz1", "status": 2}


async def test_scan_binds_and_pushes_arrive_as_template_messages(world: World) -> None:
    await bind(world)
    assert (await world.open("/open/push-way/wechat/bind"))["ret"] == Ret.WRONG_STATE
    status, answer = await get_json(world.session, f"{world.deployment.gateway_url}/{world.key}/deployed")
    assert (status, answer["ret"]) == (200, 0), answer
    await eventually(lambda: len(world.wechat.calls.sends) == 1, timeout=30, what="the template message")
    sent = world.wechat.calls.sends[0].body
    assert sent["touser"] == OPENID and sent["template_id"] == TEMPLATE
    assert sent["data"]["content"] == {"value": "deployed"}
    assert sent["client_msg_id"] == answer["data"]["id"]


async def test_unfollowing_unbinds_and_a_new_code_binds_again(world: World) -> None:
    await bind(world)
    left = await world.wechat.unfollow(OPENID)
    assert (left.status, left.text) == (200, "success")
    assert await world.wechat_way() == {"key": "", "status": 0}
    await bind(world)
    assert (await world.post("/open/push-way/wechat/unbind"))["ret"] == 0
    assert await world.wechat_way() == {"key": "", "status": 0}


async def test_what_wechat_did_not_sign_changes_nothing(world: World) -> None:
    answer = await world.open("/open/push-way/wechat/bind")
    scene = world.wechat.scene_of(answer["data"]["ticket"])
    assert scene is not None
    forged = await world.wechat.post_event(
        OPENID, {"Event": "subscribe", "EventKey": f"qrscene_{scene}"}, token="not the token"
    )
    assert forged.status == 403
    status, _ = await world.callback("POST", {}, b"<xml/>")  # no signature at all
    assert status == 403
    status, _ = await world.callback(
        "GET", {"echostr": "123", "signature": "0" * 40, "timestamp": "1", "nonce": "2"}
    )
    assert status == 403
    assert await world.wechat_way() == {"key": "", "status": 0}
    # The scene is still there for the real scan.
    assert (await world.wechat.scan(OPENID, scene, subscribe=False)).status == 200
    assert (await world.wechat_way())["status"] == 2


async def test_the_url_check_and_bad_messages(world: World) -> None:
    signed = {
        "timestamp": "1700000000",
        "nonce": "abc",
        "signature": signature_of(TOKEN, "1700000000", "abc"),
    }
    assert await world.callback("GET", {**signed, "echostr": "5837397520965812345"}) == (
        200,
        "5837397520965812345",
    )
    status, _ = await world.callback("GET", signed)
    assert status == 400
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName></xml>'
    )
    for body in (b"not xml", b"<xml><unclosed></xml>", bomb, b"<other/>"):
        assert (await world.wechat.post_callback(body)).status == 400, body
    assert (await world.wechat.post_callback(b"<xml>" + b"x" * 20_000 + b"</xml>")).status == 413
    status, _ = await world.callback("PUT", signed)
    assert status == 405
    # Messages the account does not act on are acknowledged.
    text = {"MsgType": "text", "Content": "hello"}
    assert (await world.wechat.post_event(OPENID, text)).text == "success"
    assert (await world.wechat.scan(OPENID, "no-such-scene")).text == "success"
    assert (await world.wechat_way())["status"] == 0


async def test_qr_codes_are_limited_per_user(world: World) -> None:
    """Each code is a call against the official account's daily quota: a user gets a handful an hour."""
    for _ in range(QR_CODES_PER_USER.count):
        assert (await world.open("/open/push-way/wechat/bind"))["ret"] == 0
    refused = await world.open("/open/push-way/wechat/bind")
    assert refused["ret"] == 205, refused
    assert len(world.wechat.calls.qrcodes) == QR_CODES_PER_USER.count
