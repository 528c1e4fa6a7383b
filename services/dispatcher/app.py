"""The dispatcher: consumes accepted messages, writes inbox entries and delivery status."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.dispatcher.consumers.accepted import AcceptedHandler, routed_marker
from shared.web import BUS, STORE


async def _consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    routed = routed_marker(app[STORE])
    routed.start()
    handler = AcceptedHandler(app[STORE], channels={}, routed=routed)
    await app[BUS].subscribe(handler.subscription())
    yield
    # Handlers in flight are drained when the bus context (registered earlier) stops, after this one;
    # marks they add after this flush are redone by a deduplicated re-publish at worst.
    await routed.stop()


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_consumers_ctx)
