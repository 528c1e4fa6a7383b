"""The dispatcher: routes accepted messages into inboxes and delivers them on the users' push ways.

One consumer routes accepted messages (`dispatcher.accepted`); one consumer per channel delivers on its
way (`dispatcher.deliver.<way>`), each with its own queue and retry budget. The channels share one pooled
HTTP session per process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.dispatcher.channels import open_channels
from services.dispatcher.consumers import deliver
from services.dispatcher.consumers.accepted import AcceptedHandler
from shared.data import deliveries
from shared.ids import now_ms
from shared.periodic import Periodic
from shared.web import BUS, METRICS, SETTINGS, STORE

HTTP_SESSION = web.AppKey("dispatcher_http_session", aiohttp.ClientSession)
# Connections kept: webhooks of many users, Bark and WeChat endpoints shared by all.
POOL_SIZE = 100
POOL_PER_HOST = 10
CLAIM_SWEEP_SECONDS = 3600.0


async def _consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    store, bus, metrics = app[STORE], app[BUS], app[METRICS]
    session = app[HTTP_SESSION] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL_SIZE, limit_per_host=POOL_PER_HOST)
    )
    channels = open_channels(session)
    delays = app[SETTINGS].bus_retry_delays
    for handler in deliver.consumers(store, bus, metrics, channels, delays=delays):
        await bus.subscribe(handler.subscription())
    await bus.subscribe(AcceptedHandler(store, bus, metrics).subscription())
    sweeper = Periodic(
        "delivery-claims-sweeper",
        lambda: deliveries.delete_claims_before(store, now_ms() - deliveries.CLAIM_KEEP_MS),
        interval_seconds=CLAIM_SWEEP_SECONDS,
        report="old delivery claims removed",
    )
    sweeper.start()
    yield
    await sweeper.stop()


async def _close_session(app: web.Application) -> None:
    # After every cleanup context, the bus's included: sends still in flight when stopping was asked
    # for finish on an open session instead of failing.
    if HTTP_SESSION in app:
        await app[HTTP_SESSION].close()


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_consumers_ctx)
    app.on_cleanup.append(_close_session)
