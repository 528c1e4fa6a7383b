"""The outbox: every accepted message is published at least once, whatever happens to the broker.

Confirmed publishes are marked in batches (`published_marker`). `OutboxRelay` publishes what is still
`accepted` after a grace period: the broker was down, the confirm timed out, or the gateway stopped
between storing and publishing.
"""

from __future__ import annotations

from shared.batching import IdBatcher
from shared.bus import Bus, BusUnavailableError, PublishError
from shared.bus.port import MESSAGE_HEADER
from shared.data import messages
from shared.ids import now_ms
from shared.logs import get_logger
from shared.periodic import Periodic
from shared.store import Store, StoreError

log = get_logger("igot.gateway.outbox")
BATCH = 500


def published_marker(store: Store) -> IdBatcher:
    """Marks confirmed publishes `published`, one store write per batch instead of one per message."""

    async def mark(message_ids: list[str]) -> None:
        await messages.mark_published_many(store, message_ids, now_ms())

    return IdBatcher("published-marker", mark)


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        *,
        grace_seconds: float,
        interval_seconds: float,
    ) -> None:
        self._store = store
        self._bus = bus
        self._grace_ms = int(grace_seconds * 1000)
        self._periodic = Periodic("outbox-relay", self._relay_and_report, interval_seconds=interval_seconds)

    async def start(self) -> None:
        if not self._bus.durable:
            # The in-process bus lost whatever it held when the process stopped: route those again.
            recovered = await messages.reset_unrouted(self._store)
            if recovered:
                log.info("re-publishing messages not routed before the last stop", count=recovered)
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def relay_once(self, *, grace_ms: int | None = None) -> int:
        """Publish every message accepted before the grace period and not yet confirmed."""
        cutoff = now_ms() - (self._grace_ms if grace_ms is None else grace_ms)
        published = 0
        while True:
            pending = await messages.list_unpublished(self._store, accepted_before=cutoff, limit=BATCH)
            if not pending:
                return published
            confirmed: list[str] = []
            for doc in pending:
                event = messages.to_event(doc)
                try:
                    await self._bus.publish(event, headers={MESSAGE_HEADER: event.message_id})
                except (PublishError, BusUnavailableError) as error:
                    log.warning("outbox relay cannot publish yet", error=str(error))
                    await messages.mark_published_many(self._store, confirmed, now_ms())
                    return published + len(confirmed)
                confirmed.append(event.message_id)
            await messages.mark_published_many(self._store, confirmed, now_ms())
            published += len(confirmed)
            if len(pending) < BATCH:
                return published

    async def _relay_and_report(self) -> None:
        try:
            count = await self.relay_once()
        except StoreError as error:
            log.warning("outbox relay cannot read the store", error=str(error))
            return
        if count:
            log.info("outbox relay published", count=count)
