"""A store and a bus of one run mode, for driving the gateway's pieces directly on real adapters.

standalone: SQLite in a temporary directory and the in-process bus on it; distributed: the
MongoDB-compatible server and RabbitMQ, under a fresh namespace removed afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from shared.bus import Bus, Subscription
from shared.bus.amqp import AmqpBus
from shared.bus.inprocess import InProcessBus
from shared.messages.push import MessageAcceptedV1, MessageAcceptedV2
from shared.store import Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore
from shared.topology import DISPATCHER_ACCEPTED
from tests.integration.processes import drop_database
from tests.waiting import eventually

MODES = ("standalone", "distributed")


@dataclass
class Rig:
    store: Store
    bus: Bus
    received: list[MessageAcceptedV1 | MessageAcceptedV2] = field(default_factory=list)

    async def collect(self) -> None:
        """Consume the dispatcher's queue, recording every accepted event."""

        async def record(event: MessageAcceptedV1 | MessageAcceptedV2) -> None:
            self.received.append(event)

        await self.bus.subscribe(
            Subscription(queue=DISPATCHER_ACCEPTED.name, models=DISPATCHER_ACCEPTED.models, handler=record)
        )

    def received_ids(self) -> list[str]:
        return [event.message_id for event in self.received]

    async def wait_for(self, message_id: str) -> None:
        await eventually(lambda: message_id in self.received_ids(), timeout=10, what=f"event {message_id}")


@asynccontextmanager
async def open_rig(
    mode: str, *, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Rig]:
    if mode == "standalone":
        sqlite = SqliteStore(tmp_path / "igot.sqlite3")
        bus: Bus = InProcessBus(sqlite, prefetch=4, retry_delays=(0.05,))
        store: Store = sqlite
    else:
        store = MongoStore(mongo_url, namespace)
        bus = AmqpBus(amqp_url, exchange=f"igot-{namespace}", prefetch=8, retry_delays=(0.05,))
    await bus.start()
    try:
        yield Rig(store=store, bus=bus)
    finally:
        if isinstance(bus, AmqpBus):
            await bus.delete_declared()
        await bus.stop()
        await store.close()
        if mode == "distributed":
            drop_database(mongo_url, namespace)
