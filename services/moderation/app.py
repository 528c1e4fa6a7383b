"""The moderation service: checks third-party pushes (today: group links') before anyone receives them.

It consumes `moderation.group` (the gateway's `GroupMessageAcceptedV1`), checks each message against the
lexicon and, when configured, a remote provider (`services.moderation.check`), and passes it on to
fanout, rejects it or holds it for an operator (`services.moderation.decisions`). It follows the lexicon
file and the operator's reload broadcast (`services.moderation.lexicon_holder`).

`igot serve moderation` runs it alone; standalone runs it in the one process with the others. It answers
HTTP only for health, metrics and the OpenAPI document, like every process. While no moderation process
runs, group pushes wait in their durable queue: never lost, never delivered unchecked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.moderation.check import ContentCheck
from services.moderation.consumers.group import GroupCheckHandler
from services.moderation.lexicon_holder import LexiconHolder
from services.moderation.remote import remote_checker_from_settings
from shared.logs import get_logger
from shared.web import BUS, SETTINGS, STORE

log = get_logger("moderation")


async def _consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, store, bus = app[SETTINGS], app[STORE], app[BUS]
    lexicon = LexiconHolder(
        settings.moderation_lexicon or None, poll_seconds=settings.moderation_lexicon_poll_seconds
    )
    await lexicon.load()  # a configured file that cannot be read stops the start, with the reason
    remote = remote_checker_from_settings(settings, store=store)
    check = ContentCheck(lexicon, remote, down_policy=settings.moderation_remote_down_policy)
    await bus.subscribe(lexicon.subscription())
    lexicon.start()
    await bus.subscribe(GroupCheckHandler(store, bus, check).subscription())
    log.info(
        "moderation consumer started",
        lexicon=lexicon.source,
        remote=remote.name if remote is not None else None,
        remote_down_policy=settings.moderation_remote_down_policy if remote is not None else None,
    )
    yield
    await lexicon.stop()
    if remote is not None:
        await remote.close()


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_consumers_ctx)
