"""What the bus contract suites share: test messages, and a harness that builds buses of one kind.

The in-process buses of one harness share one SQLite file (a "restart" is a new bus, and if asked a new
store, over the same file); the RabbitMQ buses share one exchange, removed with its queues at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

import aio_pika
import structlog

from shared.bus import amqp_delay
from shared.bus.amqp import AmqpBus
from shared.bus.amqp_ledger import ledger_name
from shared.bus.inprocess import InProcessBus
from shared.bus.port import Bus, Subscription
from shared.messages.base import BusMessage
from shared.metrics import Metrics
from shared.store.sqlite import SqliteStore

DELAYS = (0.05, 0.1)
KINDS = ("inprocess", "amqp")


class Ping(BusMessage):
    type: Literal["test.ping"] = "test.ping"
    version: Literal[1] = 1
    n: int


class PingV2(BusMessage):
    type: Literal["test.ping"] = "test.ping"
    version: Literal[2] = 2
    n: int
    note: str


class PingV3(BusMessage):
    type: Literal["test.ping"] = "test.ping"
    version: Literal[3] = 3
    n: int


class BadPing(BusMessage):
    """Routed like `Ping` but does not validate as one."""

    type: Literal["test.ping"] = "test.ping"
    version: Literal[1] = 1
    n: str


class Pong(BusMessage):
    type: Literal["test.pong"] = "test.pong"
    version: Literal[1] = 1
    n: int


class Nobody(BusMessage):
    type: Literal["test.nobody"] = "test.nobody"
    version: Literal[1] = 1


class Changed(BusMessage):
    """A signal: publishing it while nobody listens is not an error."""

    BROADCAST: ClassVar[bool] = True
    type: Literal["test.changed"] = "test.changed"
    version: Literal[1] = 1
    n: int


class OldKey(BusMessage):
    type: Literal["old.key"] = "old.key"
    version: Literal[1] = 1


class NewKey(BusMessage):
    type: Literal["new.key"] = "new.key"
    version: Literal[1] = 1


class Harness:
    """Builds started buses of one kind and removes what they declared on the broker."""

    def __init__(self, kind: str, amqp_url: str, namespace: str, directory: Path) -> None:
        self.kind = kind
        self.amqp_url = amqp_url
        self.exchange = f"igot-{namespace}"
        self.path = directory / "bus.sqlite3"
        self.buses: list[Bus] = []
        self.stores: list[SqliteStore] = []
        self.queues: set[str] = set()

    def store(self, *, fresh: bool = False) -> SqliteStore:
        if fresh or not self.stores:
            self.stores.append(SqliteStore(self.path))
        return self.stores[-1]

    async def bus(
        self,
        *,
        prefetch: int = 8,
        retry_delays: Sequence[float] = DELAYS,
        stop_timeout: float = 5,
        metrics: Metrics | None = None,
        fresh_store: bool = False,
    ) -> Bus:
        bus: Bus
        if self.kind == "amqp":
            bus = AmqpBus(
                self.amqp_url,
                exchange=self.exchange,
                prefetch=prefetch,
                retry_delays=retry_delays,
                metrics=metrics,
                stop_timeout=stop_timeout,
            )
        else:
            bus = InProcessBus(
                self.store(fresh=fresh_store),
                prefetch=prefetch,
                retry_delays=retry_delays,
                metrics=metrics,
                stop_timeout=stop_timeout,
                poll_interval=0.1,
            )
        await bus.start()
        self.buses.append(bus)
        return bus

    def subscription(
        self, queue: str, models: Sequence[type[BusMessage]], handler: Any, **kw: Any
    ) -> Subscription:
        self.queues.add(queue)
        return Subscription(queue=queue, models=models, handler=handler, **kw)

    async def depth(self, queue: str) -> int | None:
        """Messages waiting or unacknowledged in the broker's queue (None for the in-process bus)."""
        if self.kind != "amqp":
            return None
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(f"{self.exchange}.{queue}", passive=True)
            return declared.declaration_result.message_count or 0

    async def close(self) -> None:
        for bus in self.buses:
            await bus.stop()
        for store in self.stores:
            await store.close()
        if self.kind != "amqp":
            return
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            for queue in self.queues:
                name = f"{self.exchange}.{queue}"
                for suffix in ("", ".parked", *(f".retry.{n}" for n in range(1, 5))):
                    await channel.queue_delete(name + suffix)
            await channel.queue_delete(ledger_name(self.exchange))
            for name in amqp_delay.queue_names(self.exchange):
                await channel.queue_delete(name)
            await channel.exchange_delete(self.exchange)


@asynccontextmanager
async def open_harness(kind: str, amqp_url: str, namespace: str, directory: Path) -> AsyncIterator[Harness]:
    harness = Harness(kind, amqp_url, namespace, directory)
    try:
        yield harness
    finally:
        await harness.close()


def log_context() -> dict[str, Any]:
    return dict(structlog.contextvars.get_contextvars())


async def parked_count(bus: Bus, queue: str, count: int) -> bool:
    return len(await bus.parked(queue)) == count
