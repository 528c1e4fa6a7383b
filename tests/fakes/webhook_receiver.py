"""A webhook receiver on 127.0.0.1: records every request, checks its signature, answers from a script.

Its script (`tests.fakes.scripted`) holds HTTP statuses or `HANG`. It checks signatures the way a real
receiver would (HMAC-SHA256 of `"<timestamp>.<body>"` with the shared secret), so the channel's wire
format is tested, not assumed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.scripted import HANG, Answer, ScriptedServer

__all__ = ["HANG", "ReceivedRequest", "WebhookReceiver"]


@dataclass(frozen=True)
class ReceivedRequest:
    body: dict[str, Any]
    timestamp: str
    signature_valid: bool


class WebhookReceiver(ScriptedServer):
    def __init__(self, secret: str, *, script: list[Answer] | None = None, otherwise: Answer = 200) -> None:
        super().__init__(script=script, otherwise=otherwise)
        self.secret = secret
        self.requests: list[ReceivedRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        return [str(request.body["id"]) for request in self.requests]

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hook", self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        timestamp = request.headers.get("X-Igot-Timestamp", "")
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(request.headers.get("X-Igot-Signature", ""), f"sha256={expected}")
        self.requests.append(ReceivedRequest(json.loads(raw), timestamp, valid))
        answer = await self.next_answer()
        return web.json_response({"ok": answer == 200}, status=int(answer))
