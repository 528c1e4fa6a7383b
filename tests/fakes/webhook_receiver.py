"""A webhook receiver on 127.0.0.1: records every request, checks its signature, answers from a script.

The script is a list of answers used in order, then `otherwise` for every request after: an HTTP status,
or `HANG` to hold the request open until `release()`. It checks signatures the way a real receiver
would (HMAC-SHA256 of `"<timestamp>.<body>"` with the shared secret), so the channel's wire format is
tested, not assumed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

HANG = "hang"
Answer = int | str


@dataclass(frozen=True)
class ReceivedRequest:
    body: dict[str, Any]
    timestamp: str
    signature_valid: bool


class WebhookReceiver:
    def __init__(self, secret: str, *, script: list[Answer] | None = None, otherwise: Answer = 200) -> None:
        self.secret = secret
        self.script = list(script or [])
        self.otherwise = otherwise
        self.requests: list[ReceivedRequest] = []
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        return [str(request.body["id"]) for request in self.requests]

    def release(self, *, otherwise: Answer = 200) -> None:
        """Answer hung requests, and every later one, with `otherwise`."""
        self.script.clear()
        self.otherwise = otherwise
        self._released.set()

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        timestamp = request.headers.get("X-Igot-Timestamp", "")
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(request.headers.get("X-Igot-Signature", ""), f"sha256={expected}")
        self.requests.append(ReceivedRequest(json.loads(raw), timestamp, valid))
        answer = self.script.pop(0) if self.script else self.otherwise
        if answer == HANG:
            await self._released.wait()
            answer = self.otherwise
        return web.json_response({"ok": answer == 200}, status=int(answer))
