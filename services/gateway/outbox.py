"""The outbox relay: every accepted message reaches the bus at least once, whatever happens to the broker.

The gateway stores each message in the outbox, publishes it at once and reports the outcome here.

* On RabbitMQ a confirmed message is durable, so its entry is deleted (in batches). Each round the relay
  publishes the entries older than a grace period: the broker was down, the confirm timed out, or a
  gateway stopped between storing and publishing.
* The in-process bus keeps nothing across a restart, so there an entry stays until the dispatcher has
  written the inbox. At start the relay publishes every entry left (exactly what the stopped process
  held); while running it retries only what failed to publish in this process.
"""

from __future__ import annotations

from shared.bus import Bus, BusUnavailableError, PublishError
from shared.bus.port import MESSAGE_HEADER
from shared.data import outbox
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.push import MessageAcceptedV1
from shared.periodic import Periodic
from shared.store import Store

log = get_logger("igot.gateway.outbox")
BATCH = 500


class OutboxRelay:
    def __init__(self, store: Store, bus: Bus, *, grace_seconds: float, interval_seconds: float) -> None:
        self._store = store
        self._bus = bus
        self._grace_ms = int(grace_seconds * 1000)
        self._failed_here: dict[str, MessageAcceptedV1] = {}  # in-process bus: what to publish again
        self._deleter = outbox.batched_delete(store, "outbox-delete")
        self._periodic = Periodic(
            "outbox-relay",
            self.relay_once,
            interval_seconds=interval_seconds,
            report="outbox relay published",
        )

    def confirmed(self, message_id: str) -> None:
        """The bus took the message."""
        if self._bus.durable:
            self._deleter.add(message_id)

    def failed(self, message: MessageAcceptedV1) -> None:
        """The bus did not take the message: the relay publishes it later."""
        if not self._bus.durable:
            self._failed_here[message.message_id] = message

    async def start(self) -> None:
        if not self._bus.durable:
            recovered = await self._publish_all_left()
            if recovered:
                log.info(
                    "re-published messages that had not reached an inbox before the last stop",
                    count=recovered,
                )
        self._deleter.start()
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        await self._deleter.stop()

    async def relay_once(self, *, grace_ms: int | None = None) -> int:
        if not self._bus.durable:
            return await self._publish(list(self._failed_here.values()))
        cutoff = now_ms() - (self._grace_ms if grace_ms is None else grace_ms)
        pending = await outbox.list_older_than(self._store, cutoff, limit=BATCH)
        return await self._publish([event for event in pending if event.message_id not in self._deleter])

    async def _publish_all_left(self) -> int:
        published, last = 0, None
        while page := await outbox.list_after(self._store, last, limit=BATCH):
            for event in page:
                self._failed_here[event.message_id] = event
            published += await self._publish(page)
            last = page[-1]
        return published

    async def _publish(self, events: list[MessageAcceptedV1]) -> int:
        published = 0
        for event in events:
            try:
                await self._bus.publish(event, headers={MESSAGE_HEADER: event.message_id})
            except (PublishError, BusUnavailableError) as error:
                log.warning("outbox relay cannot publish yet", error=str(error))
                break
            self._failed_here.pop(event.message_id, None)
            self.confirmed(event.message_id)
            published += 1
        return published
