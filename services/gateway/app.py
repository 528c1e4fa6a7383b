"""The gateway: push ingress (rate limited, keys cached), the client API over the inbox, the outbox relay."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.gateway.app_keys import INGRESS
from services.gateway.ingress import Ingress
from services.gateway.key_cache import key_cache, key_change_listener
from services.gateway.outbox import OutboxRelay
from services.gateway.push_limits import PushLimits
from services.gateway.routes import compat, ingress, messages
from shared.web import BUS, METRICS, RATE_LIMITER, SETTINGS, STORE


async def _outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, store, bus = app[SETTINGS], app[STORE], app[BUS]
    relay = OutboxRelay(
        store,
        bus,
        app[METRICS],
        grace_seconds=settings.outbox_grace_seconds,
        interval_seconds=settings.outbox_interval_seconds,
    )
    keys = key_cache(store, ttl_seconds=settings.key_cache_ttl_seconds)
    limits = PushLimits(
        app[RATE_LIMITER], per_key=settings.push_rate_per_key, per_ip=settings.push_rate_per_ip
    )
    ingress = app[INGRESS] = Ingress(
        store,
        bus,
        keys,
        relay,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        limits=limits,
    )
    # Announced key changes (pause, delete, account disabled) reach this process's cache at once.
    await bus.subscribe(key_change_listener(keys))
    await relay.start()
    ingress.start()
    yield
    await ingress.stop()
    await relay.stop()


def install(app: web.Application) -> None:
    """Add the gateway to an app whose store and bus contexts are already registered."""
    app.cleanup_ctx.append(_outbox_ctx)
    app.add_routes(messages.routes)
    app.add_routes(compat.routes)


def install_ingress(app: web.Application) -> None:
    """The catch-all push routes go last, after every other service's routes."""
    app.add_routes(ingress.routes)
