"""The dispatcher: consumes accepted messages, writes inbox entries and delivery status."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.dispatcher.consumers.accepted import AcceptedHandler
from shared.web import BUS, STORE


async def _consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    handler = AcceptedHandler(app[STORE], channels={})
    await app[BUS].subscribe(handler.subscription())
    yield
    # The bus context, registered earlier, stops consumers and drains handlers in flight.


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_consumers_ctx)
