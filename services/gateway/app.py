"""The gateway: push ingress, the client API over the inbox, and the outbox relay."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.gateway.app_keys import INGRESS
from services.gateway.ingress import Ingress
from services.gateway.key_cache import key_cache
from services.gateway.outbox import OutboxRelay
from services.gateway.routes import ingress, messages
from shared.web import BUS, METRICS, SETTINGS, STORE


async def _outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, store, bus = app[SETTINGS], app[STORE], app[BUS]
    relay = OutboxRelay(
        store,
        bus,
        app[METRICS],
        grace_seconds=settings.outbox_grace_seconds,
        interval_seconds=settings.outbox_interval_seconds,
    )
    ingress = app[INGRESS] = Ingress(
        store, bus, key_cache(store), relay, idempotency_ttl_seconds=settings.idempotency_ttl_seconds
    )
    await relay.start()
    ingress.start()
    yield
    await ingress.stop()
    await relay.stop()


def install(app: web.Application) -> None:
    """Add the gateway to an app whose store and bus contexts are already registered."""
    app.cleanup_ctx.append(_outbox_ctx)
    app.add_routes(messages.routes)


def install_ingress(app: web.Application) -> None:
    """The catch-all push routes go last, after every other service's routes."""
    app.add_routes(ingress.routes)
