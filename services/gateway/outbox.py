"""The outbox relay: every accepted message reaches the bus at least once, whatever happens to the broker.

The gateway stores each message, then its outbox entry, publishes the event at once and reports a
confirmed publish here. One mechanism serves both buses, since a confirmed publish is durable on each:

* a confirmed entry is deleted (in batches, off the hot path);
* each round the relay publishes the entries older than a grace period: the bus refused or did not
  confirm in time, or a process stopped between storing and publishing (its entries are older than the
  grace at the next round of any replica, so a restart needs no special pass);
* several replicas relay one outbox: an entry is republished by whichever replica claims it first for
  the current claim window (`shared.data.outbox.claim`); the others skip it. A window outlasts a publish,
  so a replica that is still publishing is not overtaken; a republish that does race one (at a window's
  edge) is absorbed by the idempotent dispatcher.

An entry is published only while its message is stored: the gateway writes the two at once, so an entry
can outlive a failed message write (the sender heard 503). Such an entry is dropped once it is older
than `ORPHAN_SECONDS` (any write still under way has long failed or landed by then).

Each round also reports the outbox's depth and the age of its oldest entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from shared.bus import Bus, BusUnavailableError, PublishError
from shared.bus.port import MESSAGE_HEADER
from shared.data import messages, outbox
from shared.data.outbox import AcceptedEvent
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.push import MessageAcceptedV1
from shared.metrics import Metrics
from shared.periodic import Periodic
from shared.store import Store

log = get_logger("igot.gateway.outbox")
BATCH = 500
PUBLISH_TIMEOUT_SECONDS = 20.0
# A little above the publish timeout: a claim holds while its replica may still be publishing.
CLAIM_SECONDS = 30.0
# Claims of this many past windows are kept; older ones can no longer stop anybody.
CLAIM_WINDOWS_KEPT = 3
ORPHAN_SECONDS = 60.0


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        metrics: Metrics,
        *,
        grace_seconds: float,
        interval_seconds: float,
        claim_seconds: float = CLAIM_SECONDS,
        publish_timeout: float = PUBLISH_TIMEOUT_SECONDS,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._bus = bus
        self._metrics = metrics
        self._grace_ms = int(grace_seconds * 1000)
        self._claim_ms = max(1, int(claim_seconds * 1000))
        self._publish_timeout = publish_timeout
        self._clock = clock
        # Claims this process holds in the current window: its own claim lets it retry an entry the bus
        # refused a round ago, where another replica's claim makes it skip.
        self._held: set[str] = set()
        self._held_window = -1
        self._swept_window = -1
        self._deleter = outbox.batched_delete(store, "outbox-delete")
        self._periodic = Periodic(
            "outbox-relay",
            self.relay_once,
            interval_seconds=interval_seconds,
            report="outbox relay published",
        )

    def confirmed(self, message_id: str) -> None:
        """The bus confirmed the message: its entry can go."""
        self._deleter.add(message_id)

    async def start(self) -> None:
        self._deleter.start()
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        await self._deleter.stop()

    async def relay_once(self) -> int:
        """One round: report the depth, then republish the entries past the grace that this replica claims."""
        now = self._clock()
        window = now // self._claim_ms
        await self._report_depth(now)
        await self._sweep_claims(window)
        if window != self._held_window:
            self._held, self._held_window = set(), window
        pending = await outbox.list_older_than(self._store, now - self._grace_ms, limit=BATCH)
        published = 0
        for event in pending:
            if event.message_id in self._deleter:
                continue  # confirmed, its delete not yet written
            if not await self._claim(event.message_id, window, now):
                self._metrics.outbox_claims_lost.inc()
                continue
            if not await self._message_stored(event, now):
                continue
            if not await self._publish(event):
                break  # the bus is refusing: the rest waits for the next round
            self._metrics.outbox_republished.inc()
            self.confirmed(event.message_id)
            published += 1
        return published

    async def _claim(self, message_id: str, window: int, now: int) -> bool:
        if message_id in self._held:
            return True
        if not await outbox.claim(self._store, message_id, window=window, claimed_at=now):
            return False
        self._held.add(message_id)
        return True

    async def _message_stored(self, event: AcceptedEvent, now: int) -> bool:
        """Version 2 and group events name a stored message; one whose message never arrived is dropped
        in time."""
        if isinstance(event, MessageAcceptedV1) or await messages.get_by_id(self._store, event.message_id):
            return True
        if now - event.created_at > ORPHAN_SECONDS * 1000:
            log.warning("outbox entry without its message dropped", message_id=event.message_id)
            await outbox.delete_many(self._store, [event.message_id])
        return False

    async def _publish(self, event: AcceptedEvent) -> bool:
        try:
            await asyncio.wait_for(
                self._bus.publish(event, headers={MESSAGE_HEADER: event.message_id}), self._publish_timeout
            )
        except (PublishError, BusUnavailableError, TimeoutError) as error:
            log.warning("outbox relay cannot publish yet", message_id=event.message_id, error=str(error))
            return False
        return True

    async def _report_depth(self, now: int) -> None:
        depth = await outbox.count(self._store)
        oldest = await outbox.oldest_created_at(self._store) if depth else None
        self._metrics.outbox_depth.set(depth)
        self._metrics.outbox_oldest_age.set(0 if oldest is None else max(0, now - oldest) / 1000)

    async def _sweep_claims(self, window: int) -> None:
        """Once per window: the claims collection stays as small as the outbox."""
        if window == self._swept_window:
            return
        await outbox.delete_claims_before(self._store, (window - CLAIM_WINDOWS_KEPT) * self._claim_ms)
        self._swept_window = window
