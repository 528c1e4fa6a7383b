"""A TCP proxy between a service and its broker that a test can cut and restore, like a network fault."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class CuttableProxy:
    """Listens on a free local port and forwards to the server of `target_url` (amqp://…, mongodb://…)."""

    def __init__(self, target_url: str) -> None:
        target = urlsplit(target_url)
        if target.hostname is None or target.port is None:
            raise ValueError(f"{target_url!r} names no host and port")
        self._target_url = target_url
        self._target = (target.hostname, target.port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """`target_url` with the proxy's port: give this to the process that should see the fault."""
        return self._target_url.replace(f":{self._target[1]}", f":{self.port}", 1)

    async def cut(self) -> None:
        """Close the listening socket and every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for link in list(self._links):
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    async def restore(self) -> None:
        await self.start(self.port)

    async def stop(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            self._links.discard(task)
            return
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except asyncio.CancelledError:
            pass
        finally:
            for end in (writer, upstream_writer):
                end.close()
            self._links.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError, RuntimeError):
        writer.write_eof()
