"""A Bark server on 127.0.0.1 that answers like the real one (Finb/bark-server), without Apple behind it.

`POST /push` (and `/<prefix>/push`, as a self-hosted server behind a path) takes Bark's JSON and answers
`{"code": <int>, "message": "...", "timestamp": <unix seconds>}` with the code as the HTTP status, as the
real server does: 200 `success`; 400 `failed to get device token: ...` for a device key it does not
know (when `devices` is given) or `device key is empty`; 500 `push failed: ...` when Apple refuses.

The script is a list of answers used in order, then `otherwise` for every request after: an HTTP status
(200, 400, 500, 429 with `Retry-After`, 418 as its basic-auth refusal, a 3xx redirecting to
`redirect_to`), `HANG` to hold the request until `release()`, or `NOT_BARK` for a 200 that is not
Bark's answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.scripted import HANG, Answer, ScriptedServer

__all__ = ["HANG", "NOT_BARK", "Answer", "BarkPush", "BarkServer"]

NOT_BARK = "not-bark"


@dataclass(frozen=True)
class BarkPush:
    path: str
    body: dict[str, Any]
    content_type: str


class BarkServer(ScriptedServer):
    def __init__(
        self,
        *,
        devices: set[str] | None = None,
        script: list[Answer] | None = None,
        otherwise: Answer = 200,
        redirect_to: str = "http://127.0.0.1:1/push",
    ) -> None:
        super().__init__(script=script, otherwise=otherwise)
        self.devices = devices
        self.redirect_to = redirect_to
        self.pushes: list[BarkPush] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push_url(self, device_key: str) -> str:
        """What the Bark app copies for a device: the server, the key, then a sample push."""
        return f"{self.url}/{device_key}/"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/push", self._push)
        app.router.add_post("/{prefix}/push", self._push)

    async def _push(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _answer(400, "request bind failed: invalid JSON")
        if not isinstance(body, dict):
            return _answer(400, "request bind failed: not an object")
        self.pushes.append(BarkPush(request.path, body, request.content_type))
        answer = await self.next_answer()
        return self._reply(answer, str(body.get("device_key") or ""))

    def _reply(self, answer: Answer, device_key: str) -> web.Response:
        if answer == NOT_BARK:
            return web.Response(text="<html>a captive portal</html>", content_type="text/html")
        status = int(answer)
        if status == 200:
            if not device_key:
                return _answer(400, "device key is empty")
            if self.devices is not None and device_key not in self.devices:
                return _answer(400, f"failed to get device token: failed to get [{device_key}] device token")
            return _answer(200, "success")
        if status == 400:
            return _answer(400, "failed to get device token: failed to get device token from database")
        if status == 418:
            return web.Response(status=418, text="I'm a teapot")
        if status == 429:
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": "7"})
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": self.redirect_to})
        return _answer(status, "push failed: Post https://api.push.apple.com: unavailable")


def _answer(code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "timestamp": int(time.time())}, status=code)
