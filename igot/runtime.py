"""The composition root: the only place that picks adapters and puts services together.

* standalone: every service in one process, SQLite under `IGOT_DATA_DIR`, the in-process bus;
* distributed: one service per process, MongoDB and RabbitMQ.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

from aiohttp import web

from igot.indexes import ALL_INDEXES
from services.auth import app as auth_app
from services.dispatcher import app as dispatcher_app
from services.gateway import app as gateway_app
from shared.bus import Bus, Subscription
from shared.metrics import Metrics
from shared.settings import Settings
from shared.store import Store
from shared.topology import QUEUES
from shared.web import BUS, METRICS, SERVICE, SETTINGS, STORE, add_health_routes, envelope_middleware

Mode = Literal["standalone", "distributed"]
SERVICES: dict[str, Callable[[web.Application], None]] = {
    "auth": auth_app.install,
    "gateway": gateway_app.install,
    "dispatcher": dispatcher_app.install,
}
SERVICE_NAMES = tuple(SERVICES)


def open_store(settings: Settings, mode: Mode) -> Store:
    if mode == "standalone":
        from shared.store.sqlite import SqliteStore

        return SqliteStore(settings.data_dir / "igot.sqlite3")
    from shared.store.mongo import MongoStore

    return MongoStore(settings.mongo_url.get_secret_value(), settings.mongo_db)


def open_bus(settings: Settings, mode: Mode) -> Bus:
    if mode == "standalone":
        from shared.bus.inprocess import InProcessBus

        return InProcessBus(prefetch=settings.bus_prefetch, retry_delays=settings.bus_retry_delays)
    from shared.bus.amqp import AmqpBus

    return AmqpBus(
        settings.amqp_url.get_secret_value(),
        exchange=settings.bus_exchange,
        prefetch=settings.bus_prefetch,
        retry_delays=settings.bus_retry_delays,
    )


async def _never_called(message: Any) -> None:
    raise RuntimeError("declared queues have no handler in this process")


async def declare_topology(bus: Bus) -> None:
    for queue in QUEUES:
        await bus.declare(Subscription(queue=queue.name, models=queue.models, handler=_never_called))


def create_app(settings: Settings, *, mode: Mode, services: Sequence[str]) -> web.Application:
    """The HTTP app of one process; it owns the store and the bus through `cleanup_ctx`."""
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services: {', '.join(sorted(unknown))}")
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[envelope_middleware])
    app[SETTINGS] = settings
    app[SERVICE] = "standalone" if mode == "standalone" else "+".join(services)
    app[METRICS] = Metrics()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        store = open_store(settings, mode)
        await store.ensure_indexes(ALL_INDEXES)
        app[STORE] = store
        yield
        await store.close()

    async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
        bus = open_bus(settings, mode)
        await bus.start()
        await declare_topology(bus)
        app[BUS] = bus
        yield
        await bus.stop()

    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(bus_ctx)
    add_health_routes(app)
    # Order matters for routing: fixed paths first, the gateway's catch-all push routes last.
    for name in SERVICE_NAMES:
        if name in services:
            SERVICES[name](app)
    if "gateway" in services:
        gateway_app.install_ingress(app)
    return app
