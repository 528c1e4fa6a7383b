"""The outbox relay on real adapters, in both run modes: one mechanism, one republisher per entry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.gateway import outbox as relay_module
from services.gateway.outbox import ORPHAN_SECONDS, OutboxRelay
from shared.data import messages, outbox
from shared.ids import new_id, now_ms
from shared.messages.push import MessageAcceptedV1, MessageAcceptedV2, MessageBody
from shared.metrics import Metrics
from shared.store import Store
from tests.integration.gateway_rig import MODES, Rig, open_rig

CLAIM_MS = 30_000


def accepted(*, age_ms: int = 60_000) -> MessageAcceptedV2:
    return MessageAcceptedV2(message_id=new_id(), user_id="u" * 24, created_at=now_ms() - age_ms)


async def in_outbox(store: Store, event: MessageAcceptedV2) -> None:
    """As the gateway leaves an accepted push: its message stored, its entry in the outbox."""
    body = MessageBody(content=f"for {event.message_id}")
    await messages.insert(
        store,
        messages.new_message(
            message_id=event.message_id,
            sender_id=event.user_id,
            key_kind="fixed",
            body=body,
            created_at=event.created_at,
        ),
    )
    await outbox.insert(store, event)


def relay(
    rig: Rig, metrics: Metrics, *, clock: list[int] | None = None, grace_seconds: float = 30
) -> OutboxRelay:
    """A relay whose rounds the test runs itself; `clock` (a one-item list) pins the time it sees."""
    return OutboxRelay(
        rig.store,
        rig.bus,
        metrics,
        grace_seconds=grace_seconds,
        interval_seconds=60,
        claim_seconds=CLAIM_MS / 1000,
        clock=(lambda: clock[0]) if clock is not None else now_ms,
    )


def sample(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


async def stored_ids(store: Store) -> set[str]:
    return {doc["_id"] for doc in await store.collection(outbox.COLLECTION).find({})}


async def publish_sentinel(rig: Rig) -> None:
    """Events published earlier on the same queue have been consumed once this one has."""
    sentinel = accepted(age_ms=0)
    await rig.bus.publish(sentinel)
    await rig.wait_for(sentinel.message_id)


@pytest.fixture(params=MODES)
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Rig]:
    async with open_rig(
        request.param, tmp_path=tmp_path, amqp_url=amqp_url, mongo_url=mongo_url, namespace=namespace
    ) as opened:
        yield opened


async def test_stale_entries_are_published_once_then_deleted_and_the_gauges_follow(rig: Rig) -> None:
    await rig.collect()
    old, young = accepted(), accepted(age_ms=0)
    # An entry the previous release wrote is relayed as it is, version 1.
    left = MessageAcceptedV1(
        message_id=new_id(), user_id="u" * 24, body=MessageBody(content="v1"), created_at=now_ms() - 90_000
    )
    for event in (old, young):
        await in_outbox(rig.store, event)
    await outbox.insert(rig.store, left)  # version 1 carries its message
    metrics = Metrics()
    relaying = relay(rig, metrics)
    try:
        assert await relaying.relay_once() == 2
        assert sample(metrics, "igot_outbox_depth") == 3
        assert 89 <= sample(metrics, "igot_outbox_oldest_age_seconds") < 120
        assert await relaying.relay_once() == 0  # confirmed, the deletes not yet written: not again
        await publish_sentinel(rig)
        assert sorted(rig.received_ids()[:-1]) == sorted([old.message_id, left.message_id])
        assert {event.version for event in rig.received[:-1]} == {1, 2}
        assert sample(metrics, "igot_outbox_republished_total") == 2
    finally:
        await relaying.stop()  # writes the pending deletes
    assert await stored_ids(rig.store) == {young.message_id}
    assert await relaying.relay_once() == 0
    assert sample(metrics, "igot_outbox_depth") == 1
    assert sample(metrics, "igot_outbox_oldest_age_seconds") < 30


async def test_two_relays_publish_a_stale_entry_exactly_once(rig: Rig) -> None:
    await rig.collect()
    stale = accepted()
    await in_outbox(rig.store, stale)
    clock = [now_ms()]  # both replicas in one claim window
    first_metrics, second_metrics = Metrics(), Metrics()
    first, second = relay(rig, first_metrics, clock=clock), relay(rig, second_metrics, clock=clock)
    try:
        published = await asyncio.gather(first.relay_once(), second.relay_once())
        assert sorted(published) == [0, 1]
        await publish_sentinel(rig)
        assert rig.received_ids()[:-1] == [stale.message_id]
        winner, loser = (first_metrics, second_metrics) if published[0] else (second_metrics, first_metrics)
        assert sample(winner, "igot_outbox_republished_total") == 1
        assert sample(winner, "igot_outbox_claims_lost_total") == 0
        assert sample(loser, "igot_outbox_republished_total") == 0
        assert sample(loser, "igot_outbox_claims_lost_total") == 1
    finally:
        await first.stop()
        await second.stop()
    assert await stored_ids(rig.store) == set()


async def test_entries_stay_while_the_bus_refuses_and_the_claimer_retries_them(rig: Rig) -> None:
    # Nothing is bound yet: the bus refuses every publish.
    waiting = accepted()
    await in_outbox(rig.store, waiting)
    clock = [now_ms()]
    metrics, other_metrics = Metrics(), Metrics()
    relaying, other = relay(rig, metrics, clock=clock), relay(rig, other_metrics, clock=clock)
    try:
        assert await relaying.relay_once() == 0
        assert await stored_ids(rig.store) == {waiting.message_id}
        assert sample(metrics, "igot_outbox_republished_total") == 0
        # Within the window the claim keeps other replicas off the entry, not its holder.
        assert await other.relay_once() == 0
        assert sample(other_metrics, "igot_outbox_claims_lost_total") == 1
        await rig.collect()
        assert await relaying.relay_once() == 1
        await rig.wait_for(waiting.message_id)
        assert sample(metrics, "igot_outbox_claims_lost_total") == 0
    finally:
        await relaying.stop()
        await other.stop()
    assert await stored_ids(rig.store) == set()


async def test_a_claim_expires_with_its_window_and_old_claims_are_swept(rig: Rig) -> None:
    waiting = accepted()
    await in_outbox(rig.store, waiting)
    clock = [now_ms()]
    holder, other_metrics = relay(rig, Metrics(), clock=clock), Metrics()
    other = relay(rig, other_metrics, clock=clock)
    claims = rig.store.collection(outbox.CLAIMS)
    try:
        assert await holder.relay_once() == 0  # claims it; the bus refuses (nothing bound)
        assert await claims.count({}) == 1
        await rig.collect()
        clock[0] += CLAIM_MS  # the next window: anybody may claim again
        assert await other.relay_once() == 1
        await rig.wait_for(waiting.message_id)
        assert sample(other_metrics, "igot_outbox_claims_lost_total") == 0
        assert await claims.count({}) == 2
        clock[0] += relay_module.CLAIM_WINDOWS_KEPT * CLAIM_MS
        await other.relay_once()
        assert await claims.count({}) == 1  # the first window's claim is gone
    finally:
        await holder.stop()
        await other.stop()


async def test_an_entry_whose_message_never_arrived_is_not_published_and_dropped_in_time(rig: Rig) -> None:
    await rig.collect()
    metrics = Metrics()
    fresh, orphan = accepted(age_ms=5_000), accepted(age_ms=int(ORPHAN_SECONDS * 1000) + 5_000)
    for event in (fresh, orphan):
        await outbox.insert(rig.store, event)  # the message write failed: no message
    relaying = relay(rig, metrics, grace_seconds=1)
    assert await relaying.relay_once() == 0
    assert await stored_ids(rig.store) == {fresh.message_id}  # a late message write may still land
    await publish_sentinel(rig)
    assert rig.received_ids()[:-1] == []
