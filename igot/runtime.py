"""The composition root: the only place that picks adapters and puts services together.

* standalone: every service in one process, SQLite under `IGOT_DATA_DIR`, the in-process bus;
* distributed: one service per process, MongoDB and RabbitMQ.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from igot import openapi
from igot.indexes import ALL_INDEXES
from igot.migrations import migrate_data
from services.auth import app as auth_app
from services.dispatcher import app as dispatcher_app
from services.fanout import app as fanout_app
from services.gateway import app as gateway_app
from services.moderation import app as moderation_app
from shared.bus import Bus, Subscription
from shared.cors import cors_middleware
from shared.logs import get_logger
from shared.metrics import Metrics
from shared.settings import Settings
from shared.store import Store
from shared.topology import QUEUES
from shared.web import (
    BUS,
    METRICS,
    SERVICE,
    SETTINGS,
    STORE,
    add_health_routes,
    envelope_middleware,
    rate_limiter_ctx,
)

log = get_logger("igot.runtime")
Mode = Literal["standalone", "distributed"]
SERVICES: dict[str, Callable[[web.Application], None]] = {
    "auth": auth_app.install,
    "gateway": gateway_app.install,
    "dispatcher": dispatcher_app.install,
    "fanout": fanout_app.install,
    "moderation": moderation_app.install,
}
SERVICE_NAMES = tuple(SERVICES)


def sqlite_path(settings: Settings) -> Path:
    """The standalone store's file."""
    return settings.data_dir / "igot.sqlite3"


def open_store(settings: Settings, mode: Mode) -> Store:
    if mode == "standalone":
        from shared.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(settings))
    from shared.store.mongo import MongoStore

    return MongoStore(settings.mongo_url.get_secret_value(), settings.mongo_db)


def open_bus(settings: Settings, mode: Mode, *, store: Store, metrics: Metrics | None = None) -> Bus:
    """The bus of `mode`; standalone keeps its queues in `store`, which must be the SQLite store."""
    if mode == "standalone":
        from shared.bus.inprocess import InProcessBus
        from shared.store.sqlite import SqliteStore

        if not isinstance(store, SqliteStore):
            raise TypeError("the standalone bus keeps its queues in the SQLite store")
        return InProcessBus(
            store, prefetch=settings.bus_prefetch, retry_delays=settings.bus_retry_delays, metrics=metrics
        )
    from shared.bus.amqp import AmqpBus

    return AmqpBus(
        settings.amqp_url.get_secret_value(),
        exchange=settings.bus_exchange,
        prefetch=settings.bus_prefetch,
        retry_delays=settings.bus_retry_delays,
        metrics=metrics,
    )


async def _never_called(message: Any) -> None:
    raise RuntimeError("declared queues have no handler in this process")


def _topology() -> list[Subscription]:
    return [
        Subscription(
            queue=queue.name, models=queue.models, handler=_never_called, routing_keys=queue.routing_keys
        )
        for queue in QUEUES
    ]


async def declare_topology(bus: Bus) -> None:
    """Add every queue and binding of the code; what older code bound stays (see `prune_topology`)."""
    for subscription in _topology():
        await bus.declare(subscription)


async def prune_topology(bus: Bus) -> list[str]:
    """Declare the topology and remove every binding the code no longer declares; returns them."""
    return await bus.prune(_topology())


def create_app(
    settings: Settings,
    *,
    mode: Mode,
    services: Sequence[str],
    dispatcher: dispatcher_app.Consumers | None = None,
) -> web.Application:
    """The HTTP app of one process; it owns the store and the bus through `cleanup_ctx`. `dispatcher`
    picks the dispatcher's consumers (default: the router and every channel)."""
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services: {', '.join(sorted(unknown))}")
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[cors_middleware, envelope_middleware]
    )
    app[SETTINGS] = settings
    if dispatcher is not None:
        app[dispatcher_app.CONSUMERS] = dispatcher
    app[SERVICE] = "standalone" if mode == "standalone" else "+".join(services)
    app[METRICS] = Metrics()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        if mode == "standalone" and not sqlite_path(settings).exists():
            log.info("no store yet: creating an empty one", path=str(sqlite_path(settings)))
        store = open_store(settings, mode)
        await store.ensure_indexes(ALL_INDEXES)
        if mode == "standalone":  # distributed deployments run `igot migrate` once, not every replica
            await migrate_data(store)
        app[STORE] = store
        yield
        await store.close()

    async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
        # Registered after `store_ctx`: the store is open, and the bus stops before it closes.
        bus = open_bus(settings, mode, store=app[STORE], metrics=app[METRICS])
        await bus.start()
        await declare_topology(bus)
        app[BUS] = bus
        yield
        await bus.stop()

    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(rate_limiter_ctx)  # after the store; every service may count uses
    add_health_routes(app)
    openapi.install(app, public_url=settings.public_url)
    # Order matters for routing: fixed paths first, the gateway's catch-all push routes last.
    for name in SERVICE_NAMES:
        if name in services:
            SERVICES[name](app)
    if "gateway" in services:
        gateway_app.install_ingress(app)
    return app
