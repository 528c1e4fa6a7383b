"""The dispatcher: consumes accepted messages, writes inbox entries and delivery status."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.dispatcher.consumers.accepted import AcceptedHandler
from shared.data import outbox
from shared.web import BUS, STORE


async def _consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    # On RabbitMQ the gateway clears the outbox on the broker's confirm; the in-process bus needs us to.
    cleaner = None if app[BUS].durable else outbox.batched_delete(app[STORE], "outbox-cleaner")
    if cleaner is not None:
        cleaner.start()
    handler = AcceptedHandler(app[STORE], channels={}, routed=cleaner)
    await app[BUS].subscribe(handler.subscription())
    yield
    # Handlers in flight are drained when the bus context (registered earlier) stops, after this one;
    # entries they finish after this flush are re-published at the next start and deduplicated.
    if cleaner is not None:
        await cleaner.stop()


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_consumers_ctx)
