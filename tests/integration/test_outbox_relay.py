"""The outbox relay on real adapters: what it publishes, when it deletes, what it leaves alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.gateway import outbox as relay_module
from services.gateway.outbox import OutboxRelay
from shared.bus import Bus, Subscription
from shared.bus.amqp import AmqpBus
from shared.bus.inprocess import InProcessBus
from shared.data import outbox
from shared.ids import new_id, now_ms
from shared.messages.push import MessageAcceptedV1, MessageBody
from shared.store.sqlite import SqliteStore
from shared.topology import DISPATCHER_ACCEPTED
from tests.waiting import eventually


def accepted(content: str, *, age_ms: int = 60_000) -> MessageAcceptedV1:
    return MessageAcceptedV1(
        message_id=new_id(), user_id="u" * 24, body=MessageBody(content=content), created_at=now_ms() - age_ms
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "igot.sqlite3")
    yield opened
    await opened.close()


async def collecting(bus: Bus, received: list[str]) -> None:
    async def collect(event: MessageAcceptedV1) -> None:
        received.append(event.body.content)

    await bus.start()
    await bus.subscribe(
        Subscription(queue=DISPATCHER_ACCEPTED.name, models=DISPATCHER_ACCEPTED.models, handler=collect)
    )


async def stored_ids(store: SqliteStore) -> set[str]:
    return {doc["_id"] for doc in await store.collection(outbox.COLLECTION).find({})}


async def test_in_process_bus_start_publishes_everything_the_last_process_left(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "BATCH", 3)  # several pages
    left = [accepted(f"left-{n}", age_ms=n % 3) for n in range(7)]  # equal times: pages go by id too
    for event in left:
        await outbox.insert(store, event)
    bus = InProcessBus(prefetch=4, retry_delays=(0.05,))
    received: list[str] = []
    await collecting(bus, received)
    relay = OutboxRelay(store, bus, grace_seconds=30, interval_seconds=0.05)
    try:
        await relay.start()
        await _wait_for(received, 7)
        assert sorted(received) == sorted(event.body.content for event in left)
        # Entries stay until the dispatcher has the message in an inbox: the bus keeps nothing.
        assert await stored_ids(store) == {event.message_id for event in left}
        # While running, only what failed to publish in this process is retried, not what is in flight.
        late = accepted("late")
        relay.failed(late)
        assert await relay.relay_once() == 1
        assert await relay.relay_once() == 0
        await _wait_for(received, 8)
        assert received.count("late") == 1
    finally:
        await relay.stop()
        await bus.stop()


async def _wait_for(received: list[str], n: int) -> None:
    await eventually(lambda: len(received) >= n, timeout=10, what=f"{n} messages")


async def test_rabbitmq_relay_publishes_old_entries_and_deletes_them(
    store: SqliteStore, amqp_url: str, namespace: str
) -> None:
    bus = AmqpBus(amqp_url, exchange=f"igot-{namespace}", prefetch=8, retry_delays=(0.05,))
    # The relay publishes an old entry unless a delete for it is still waiting to be written.
    received: list[str] = []
    await collecting(bus, received)
    old, young = accepted("old"), accepted("young", age_ms=0)
    for event in (old, young):
        await outbox.insert(store, event)
    relay = OutboxRelay(store, bus, grace_seconds=30, interval_seconds=60)
    try:
        assert await relay.relay_once() == 1
        assert await relay.relay_once() == 0  # confirmed, its delete not yet written: not published again
        await _wait_for(received, 1)
        await relay.stop()  # writes the pending deletes
        assert received == ["old"]
        assert await stored_ids(store) == {young.message_id}
    finally:
        await bus.delete_declared()
        await bus.stop()


async def test_relay_keeps_entries_when_the_bus_refuses_them(store: SqliteStore) -> None:
    bus = InProcessBus(prefetch=4, retry_delays=(0.05,))  # nothing bound: every publish is refused
    await bus.start()
    event = accepted("waiting")
    await outbox.insert(store, event)
    relay = OutboxRelay(store, bus, grace_seconds=0, interval_seconds=60)
    try:
        await relay.start()
        assert await relay.relay_once() == 0
        assert await stored_ids(store) == {event.message_id}
    finally:
        await relay.stop()
        await bus.stop()
