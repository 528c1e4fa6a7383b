"""A WeChat official-account API on 127.0.0.1 that answers like the real one, and plays WeChat's part in
calling the account's callback when a user scans a QR code.

Endpoints (WeChat's paths and JSON): `POST /cgi-bin/stable_token` (normal mode answers the token in
force, `force_refresh` a new one; a wrong appid or secret is errcode 40013 / 40125),
`POST /cgi-bin/qrcode/create` (`QR_STR_SCENE`), `GET /cgi-bin/showqrcode?ticket=` (a PNG),
`POST /cgi-bin/message/template/send`, and the mini program's text check `POST /wxa/msg_sec_check`. A
call with an unknown token answers 40001, with an expired one 42001 (`expire_tokens()` makes every token
issued so far expire early; `revoke_tokens()` makes them refused with 40001 while normal mode still hands
them out, so that only a forced renewal helps).

Template sends answer from the script, then `otherwise`: an errcode (0 sends; -1, 40003, 43004, 45009,
45047, …), `HTTP_500` for a server error, or `HANG` (held until `release()`). A follower who does not
follow (`followers` given and the openid not in it) gets 43004 whatever the script says.

Text checks are refused as WeChat refuses them: version 1's answer without version 2 (87014 for
risky content), a scene outside 1..4 (40129), no content or openid (44002), content over 2,500
characters (47001), an openid not in `visitors` (when given) 61010, its user not having opened the mini
program lately. Others answer from the same script: 0 gives the verdict (version 2's `result` and
`detail`: the most severe of the `verdicts` whose word the content or title holds, else pass with label
100), an errcode answers that error, `HTTP_500`, `HANG`, or `GARBAGE` (HTTP 200, a body that is not JSON).

`scan(openid, scene, subscribe=...)` posts the event WeChat posts when someone scans a QR code (a
`subscribe` with `qrscene_<scene>` for a new follower, `SCAN` for one who follows), signed with the
token the account was configured with; `unfollow(openid)` posts `unsubscribe`.

Run alone for trying iGot locally (`python -m tests.fakes.wechat_server --port 9400 --callback
http://127.0.0.1:8080/wechat/callback --token <IGOT_WECHAT_TOKEN>`): opening `/fake/scan?ticket=<ticket>`
in a browser then plays a scan of that QR code.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import segno
from aiohttp import web

from shared.wechat.callback import event_xml, signature_of
from tests.fakes.scripted import HANG, Answer, ScriptedServer

__all__ = ["APPID", "GARBAGE", "HANG", "HTTP_500", "SECRET", "TOKEN", "WeChatServer"]

APPID = "wx0123456789abcdef"
SECRET = "fake-wechat-secret-0123456789abcdef"
TOKEN = "fake-callback-token"
HTTP_500 = "http-500"
GARBAGE = "garbage"
MAX_CHECKED = 2500
SEVERITY = {"pass": 0, "review": 1, "risky": 2}
TOKEN_SECONDS = 7200


@dataclass
class Issued:
    token: str
    expires_at: float  # monotonic clock
    expired_early: bool = False
    revoked: bool = False  # refused by the API, yet still handed out by normal mode


@dataclass
class QrCode:
    ticket: str
    scene: str
    expire_seconds: int


@dataclass
class TemplateSend:
    access_token: str
    body: dict[str, Any]


@dataclass
class SecCheck:
    access_token: str
    body: dict[str, Any]
    raw: bytes  # as sent: WeChat reads non-ASCII text as UTF-8, not as \u escapes


@dataclass
class CallbackAnswer:
    status: int
    text: str


@dataclass
class Calls:
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    qrcodes: list[QrCode] = field(default_factory=list)
    sends: list[TemplateSend] = field(default_factory=list)
    sec_checks: list[SecCheck] = field(default_factory=list)


class WeChatServer(ScriptedServer):
    def __init__(
        self,
        *,
        appid: str = APPID,
        secret: str = SECRET,
        callback_url: str = "",
        callback_token: str = TOKEN,
        followers: set[str] | None = None,
        script: list[Answer] | None = None,
        otherwise: Answer = 0,
        verdicts: dict[str, tuple[str, int]] | None = None,
        visitors: set[str] | None = None,
    ) -> None:
        super().__init__(script=script, otherwise=otherwise)
        self.appid = appid
        self.secret = secret
        self.callback_url = callback_url
        self.callback_token = callback_token
        self.followers = followers
        # Text checks: a word the content holds → (suggest, label); openids who opened the mini program.
        self.verdicts = dict(verdicts or {})
        self.visitors = visitors
        self.calls = Calls()
        self.issued: list[Issued] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def showqrcode_url(self) -> str:
        return f"{self.url}/cgi-bin/showqrcode"

    def scene_of(self, ticket: str) -> str | None:
        return next((qr.scene for qr in self.calls.qrcodes if qr.ticket == ticket), None)

    def expire_tokens(self) -> None:
        """Every token issued so far expires now, before its time (WeChat answers 42001 for it)."""
        for issued in self.issued:
            issued.expired_early = True

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused with 40001, though normal mode still hands it out."""
        for issued in self.issued:
            issued.revoked = True

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_post("/cgi-bin/qrcode/create", self._qrcode_create)
        app.router.add_get("/cgi-bin/showqrcode", self._showqrcode)
        app.router.add_post("/cgi-bin/message/template/send", self._template_send)
        app.router.add_post("/wxa/msg_sec_check", self._msg_sec_check)
        app.router.add_get("/fake/scan", self._fake_scan)

    # WeChat's side of the callback.

    async def scan(self, openid: str, scene: str, *, subscribe: bool = True) -> CallbackAnswer:
        event = "subscribe" if subscribe else "SCAN"
        key = f"qrscene_{scene}" if subscribe else scene
        return await self.post_event(openid, {"Event": event, "EventKey": key, "Ticket": "t"})

    async def unfollow(self, openid: str) -> CallbackAnswer:
        return await self.post_event(openid, {"Event": "unsubscribe", "EventKey": ""})

    async def post_event(
        self, openid: str, event: dict[str, str], *, token: str | None = None
    ) -> CallbackAnswer:
        fields = {
            "ToUserName": "gh_0123456789ab",
            "FromUserName": openid,
            "CreateTime": str(int(time.time())),
            "MsgType": "event",
            **event,
        }
        return await self.post_callback(event_xml(fields), token=token)

    async def post_callback(self, body: bytes, *, token: str | None = None) -> CallbackAnswer:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        signature = signature_of(self.callback_token if token is None else token, timestamp, nonce)
        params = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": "x"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.callback_url, params=params, data=body, headers={"Content-Type": "text/xml"}
            ) as response,
        ):
            return CallbackAnswer(response.status, await response.text())

    # The API.

    async def _stable_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.token_requests.append(body)
        if body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if body.get("appid") != self.appid:
            return _error(40013, "invalid appid")
        if body.get("secret") != self.secret:
            return _error(40125, "invalid appsecret")
        now = time.monotonic()
        valid = [i for i in self.issued if not i.expired_early and i.expires_at > now]
        if valid and not body.get("force_refresh"):
            current = valid[-1]
        else:
            current = Issued(secrets.token_urlsafe(24), now + TOKEN_SECONDS)
            self.issued.append(current)
        return web.json_response({"access_token": current.token, "expires_in": int(current.expires_at - now)})

    def _token_error(self, request: web.Request) -> web.Response | None:
        token = request.query.get("access_token", "")
        issued = next((i for i in self.issued if i.token == token), None)
        if issued is None or issued.revoked:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        if issued.expired_early or issued.expires_at <= time.monotonic():
            return _error(42001, "access_token expired")
        return None

    async def _qrcode_create(self, request: web.Request) -> web.Response:
        refused = self._token_error(request)
        if refused is not None:
            return refused
        body = await request.json()
        scene = ((body.get("action_info") or {}).get("scene") or {}).get("scene_str")
        if (
            body.get("action_name") != "QR_STR_SCENE"
            or not isinstance(scene, str)
            or not 1 <= len(scene) <= 64
        ):
            return _error(40097, "invalid args")
        seconds = int(body.get("expire_seconds") or 60)
        qrcode = QrCode(secrets.token_urlsafe(32), scene, seconds)
        self.calls.qrcodes.append(qrcode)
        answer = {"ticket": qrcode.ticket, "expire_seconds": seconds, "url": f"{self.url}/q/{qrcode.ticket}"}
        return web.json_response(answer)

    async def _showqrcode(self, request: web.Request) -> web.Response:
        ticket = request.query.get("ticket", "")
        if self.scene_of(ticket) is None:
            return web.Response(status=404)
        buffer = io.BytesIO()
        segno.make_qr(f"{self.url}/fake/scan?ticket={quote(ticket)}").save(buffer, kind="png", scale=4)
        return web.Response(body=buffer.getvalue(), content_type="image/png")

    async def _template_send(self, request: web.Request) -> web.Response:
        refused = self._token_error(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.calls.sends.append(TemplateSend(request.query["access_token"], body))
        answer = await self.next_answer()
        if answer == HTTP_500:
            return web.Response(status=500, text="Internal Server Error")
        if self.followers is not None and body.get("touser") not in self.followers:
            return _error(43004, "require subscribe")
        code = int(answer)
        if code != 0:
            return _error(code, "scripted")
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(self.calls.sends)})

    async def _msg_sec_check(self, request: web.Request) -> web.Response:
        refused = self._token_error(request)
        if refused is not None:
            return refused
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(47001, "data format error")
        self.calls.sec_checks.append(SecCheck(request.query["access_token"], body, raw))
        content, openid, title = body.get("content"), body.get("openid"), body.get("title")
        if not isinstance(content, str) or not content:
            return _error(44002, "empty post data")
        if len(content) > MAX_CHECKED:
            return _error(47001, "data format error")
        suggest, label = self._verdict_on(f"{content}\n{title if isinstance(title, str) else ''}")
        if body.get("version") != 2:
            return _error(87014, "risky content") if suggest == "risky" else _error(0, "ok")
        if body.get("scene") not in (1, 2, 3, 4):
            return _error(40129, "invalid scene")
        if not isinstance(openid, str) or not openid:
            return _error(44002, "empty post data")
        if self.visitors is not None and openid not in self.visitors:
            return _error(61010, "code is expired")
        answer = await self.next_answer()
        if answer == HTTP_500:
            return web.Response(status=500, text="Internal Server Error")
        if answer == GARBAGE:
            return web.Response(text="<html>upstream busy</html>", content_type="text/html")
        if int(answer) != 0:
            return _error(int(answer), "scripted")
        model = {"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}
        answered = {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
            "detail": [model, {"strategy": "keyword", "errcode": 0}],
            "trace_id": secrets.token_hex(12),
        }
        return web.json_response(answered)

    def _verdict_on(self, text: str) -> tuple[str, int]:
        found = [verdict for word, verdict in self.verdicts.items() if word in text]
        return max(found, key=lambda verdict: SEVERITY[verdict[0]], default=("pass", 100))

    async def _fake_scan(self, request: web.Request) -> web.Response:
        """Plays a scan of a QR code this server made (for trying iGot by hand)."""
        scene = self.scene_of(request.query.get("ticket", ""))
        if scene is None:
            return web.Response(status=404, text="unknown ticket")
        openid = request.query.get("openid") or "o-fake-follower"
        answered = await self.scan(openid, scene)
        return web.Response(
            text=f"scanned as {openid}: the callback answered {answered.status} {answered.text}"
        )


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": message})


async def _serve(port: int, callback_url: str, token: str) -> None:
    server = WeChatServer(callback_url=callback_url, callback_token=token)
    await server.start(port)
    # A command-line tool for trying iGot by hand: it tells the settings that point iGot at it.
    sys.stdout.write(
        f"fake WeChat API on {server.url}; start iGot with:\n"
        f"IGOT_WECHAT_API_BASE={server.url} IGOT_WECHAT_QRCODE_URL={server.showqrcode_url} "
        f"IGOT_WECHAT_APPID={APPID} IGOT_WECHAT_SECRET={SECRET} IGOT_WECHAT_TOKEN={token} "
        "IGOT_WECHAT_TEMPLATE_ID=any\n"
    )
    sys.stdout.flush()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake WeChat API for trying iGot locally")
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--callback", default="http://127.0.0.1:8080/wechat/callback")
    parser.add_argument("--token", default=TOKEN)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.callback, args.token))


if __name__ == "__main__":
    main()
