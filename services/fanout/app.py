"""The fanout service: consumes group links' pushes and expands them to the subscribers, a page at a time.

`igot serve fanout` runs it alone; standalone runs it in the one process with the others. It answers
HTTP only for health, metrics and the OpenAPI document, like every process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.fanout.consumers.group import GroupPushHandler
from services.fanout.expansion import Expansion
from shared.logs import get_logger
from shared.web import BUS, STORE

log = get_logger("fanout")


async def _consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[BUS].subscribe(GroupPushHandler(Expansion(app[STORE], app[BUS])).subscription())
    log.info("fanout consumer started")
    yield


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_consumers_ctx)
