"""`moderation.group`: a group link's push as the gateway accepted it, checked before anyone receives it.

The bus message carries ids only; the text is read from the stored message. A message decided before (a
redelivery, a copy the outbox relay published again) ends as first decided (`decisions.resume`) without
being checked again. A store that cannot be reached, or a remote provider down under the `hold` policy,
raises `UnavailableError`: the message stays on the bus, retried later and never parked.
"""

from __future__ import annotations

import time

import structlog

from services.moderation import decisions
from services.moderation.check import ContentCheck
from shared.bus import Bus, Subscription
from shared.data import messages
from shared.failures import UnavailableError
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.group import GroupMessageAcceptedV1
from shared.store import Store, StoreUnavailableError
from shared.topology import MODERATION_GROUP

log = get_logger("igot.moderation")


class GroupCheckHandler:
    def __init__(self, store: Store, bus: Bus, check: ContentCheck) -> None:
        self._store = store
        self._bus = bus
        self._check = check

    def subscription(self) -> Subscription:
        return Subscription(queue=MODERATION_GROUP.name, models=MODERATION_GROUP.models, handler=self.handle)

    async def handle(self, event: GroupMessageAcceptedV1) -> None:
        structlog.contextvars.bind_contextvars(message_id=event.message_id, link_id=event.link_id)
        try:
            await self._moderate(event)
        except StoreUnavailableError as error:
            raise UnavailableError(f"store unavailable: {error}") from error

    async def _moderate(self, event: GroupMessageAcceptedV1) -> None:
        message = await messages.get_by_id(self._store, event.message_id)
        if message is None:
            # Written before its event was published: it is gone since (its sender's account purged).
            log.warning("group push without its stored message: nothing to check")
            return
        if await decisions.resume(self._store, self._bus, message):
            log.info("group push decided before: its decision stands", checked=messages.check_state(message))
            return
        started = time.perf_counter()
        outcome = await self._check.check(message)
        await decisions.apply(self._store, self._bus, message, outcome, now=now_ms())
        log.info(
            "moderation verdict",
            verdict=outcome.verdict,
            category=outcome.category,
            by=outcome.by,
            hits=len(outcome.hits),
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
