"""What every fake HTTP provider shares: a server on 127.0.0.1 that answers from a script.

The script is a list of answers used in order, then `otherwise` for every request after. `HANG` holds a
request open until `release()` (and `hold()` makes later `HANG`s hold again), so a test can stop iGot
in the middle of a call.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

HANG = "hang"
Answer = int | str


class ScriptedServer:
    def __init__(self, *, script: list[Answer] | None = None, otherwise: Answer = 200) -> None:
        self.script = list(script or [])
        self.otherwise = otherwise
        self.port = 0
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the provider's routes."""
        raise NotImplementedError

    def hold(self) -> None:
        """`HANG` answers hold again (after a `release`)."""
        self._released.clear()

    def release(self, *, otherwise: Answer = 200) -> None:
        """Answer hung requests, and every later one, with `otherwise`."""
        self.script.clear()
        self.otherwise = otherwise
        self._released.set()

    async def next_answer(self) -> Answer:
        """The script's next answer; a `HANG` waits for `release` and answers what it says."""
        answer = self.script.pop(0) if self.script else self.otherwise
        if answer == HANG:
            await self._released.wait()
            answer = self.otherwise
        return answer

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
