"""The outbox relay on the embedded store and bus: what it publishes, what it leaves alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.gateway.outbox import OutboxRelay
from shared.bus import Subscription
from shared.bus.inprocess import InProcessBus
from shared.data import messages
from shared.ids import new_id, now_ms
from shared.messages.push import MessageAcceptedV1, MessageBody
from shared.store.sqlite import SqliteStore
from shared.topology import DISPATCHER_ACCEPTED
from tests.integration.processes import eventually


def accepted(content: str, *, age_ms: int = 60_000) -> MessageAcceptedV1:
    return MessageAcceptedV1(
        message_id=new_id(), user_id="u" * 24, body=MessageBody(content=content), created_at=now_ms() - age_ms
    )


async def test_relay_publishes_unconfirmed_and_after_restart_unrouted_messages(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "igot.sqlite3")
    bus = InProcessBus(prefetch=4, retry_delays=(0.05,))
    received: list[str] = []

    async def collect(event: MessageAcceptedV1) -> None:
        received.append(event.body.content)

    unconfirmed, published_before_crash, routed, too_young = (
        accepted("unconfirmed"),
        accepted("published"),
        accepted("routed"),
        accepted("young", age_ms=0),
    )
    for event in (unconfirmed, published_before_crash, routed, too_young):
        await messages.insert(store, event)
    published_ids = [published_before_crash.message_id, routed.message_id]
    await messages.mark_published_many(store, published_ids, now_ms())
    await messages.mark_routed_many(store, [routed.message_id], now_ms())

    await bus.start()
    await bus.subscribe(
        Subscription(queue=DISPATCHER_ACCEPTED.name, models=DISPATCHER_ACCEPTED.models, handler=collect)
    )
    relay = OutboxRelay(store, bus, grace_seconds=30, interval_seconds=0.05)
    try:
        await relay.start()

        async def two_received() -> bool:
            return len(received) == 2

        await eventually(two_received, timeout=10, what="the relay to publish")
        await asyncio.sleep(0.2)  # a few more relay rounds: nothing else may come
        assert sorted(received) == ["published", "unconfirmed"]
        for event in (unconfirmed, published_before_crash):
            doc = await messages.get_by_id(store, event.message_id)
            assert doc is not None and doc["state"] == messages.PUBLISHED
        young = await messages.get_by_id(store, too_young.message_id)
        assert young is not None and young["state"] == messages.ACCEPTED
    finally:
        await relay.stop()
        await bus.stop()
        await store.close()


async def test_relay_keeps_messages_when_the_bus_refuses_them(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "igot.sqlite3")
    bus = InProcessBus(prefetch=4, retry_delays=(0.05,))  # nothing bound: every publish is refused
    await bus.start()
    event = accepted("waiting")
    await messages.insert(store, event)
    relay = OutboxRelay(store, bus, grace_seconds=0, interval_seconds=60)
    try:
        assert await relay.relay_once() == 0
        doc = await messages.get_by_id(store, event.message_id)
        assert doc is not None and doc["state"] == messages.ACCEPTED
    finally:
        await bus.stop()
        await store.close()
