"""Accepting a push on real adapters: stored once, ids on the bus, a retry repeats nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.gateway.ingress import Ingress
from services.gateway.key_cache import key_cache
from services.gateway.outbox import OutboxRelay
from services.gateway.push_fields import parse_push
from shared.data import keys, messages, outbox
from shared.envelope import ApiError, Ret
from shared.ids import new_id, new_push_key, now_ms
from shared.messages.push import MessageAcceptedV2, MessageBody
from shared.metrics import Metrics
from shared.store import Store
from tests.integration.gateway_rig import MODES, Rig, open_rig

OWNER = "a" * 24


@pytest.fixture(params=MODES)
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Rig]:
    async with open_rig(
        request.param, tmp_path=tmp_path, amqp_url=amqp_url, mongo_url=mongo_url, namespace=namespace
    ) as opened:
        yield opened


@pytest.fixture
async def relay(rig: Rig) -> AsyncIterator[OutboxRelay]:
    opened = OutboxRelay(rig.store, rig.bus, Metrics(), grace_seconds=30, interval_seconds=60)
    yield opened
    await opened.stop()


@pytest.fixture
def ingress(rig: Rig, relay: OutboxRelay) -> Ingress:
    return Ingress(rig.store, rig.bus, key_cache(rig.store), relay)


async def new_key(store: Store, *, kind: str = "fixed", name: str | None = None) -> str:
    value = new_push_key()
    await keys.insert(store, value=value, user_id=OWNER, kind=kind, created_at=now_ms())
    if name is not None:
        await store.collection(keys.COLLECTION).update_one({"_id": value}, {"$set": {"name": name}})
    return value


async def count(store: Store, collection: str) -> int:
    return await store.collection(collection).count({})


async def publish_sentinel(rig: Rig, ingress: Ingress) -> None:
    """Events published earlier on the same queue have been consumed once this one has.

    The ingress publishes without making the sender wait: its publishes are let finish first.
    """
    await ingress.drain()
    sentinel = MessageAcceptedV2(message_id=new_id(), user_id=OWNER, created_at=now_ms())
    await rig.bus.publish(sentinel)
    await rig.wait_for(sentinel.message_id)


async def test_a_push_stores_its_message_once_and_publishes_ids_only(
    rig: Rig, ingress: Ingress, relay: OutboxRelay
) -> None:
    await rig.collect()
    key = await new_key(rig.store, kind="temporary", name="build bot")
    push = parse_push({"title": "t", "content": "c", "topic": "ci", "detail": {"a": 1}})
    message_id = await ingress.accept(key, push, trace_id="trace-1")

    await rig.wait_for(message_id)
    (event,) = rig.received
    assert isinstance(event, MessageAcceptedV2)
    assert (event.user_id, event.key_kind, event.topic, event.strong) == (OWNER, "temporary", "ci", True)
    assert "body" not in event.model_dump()
    stored = await messages.get_by_id(rig.store, message_id)
    assert stored == {
        "_id": message_id,
        "senderId": OWNER,
        "keyKind": "temporary",
        "source": "build bot",
        "app": "iGot",
        "topic": "ci",
        "body": MessageBody(title="t", content="c").model_dump(),
        "extra": '{"detail":{"a":1}}',
        "createdAt": event.created_at,
    }
    await relay.stop()  # writes the pending deletes
    assert await count(rig.store, outbox.COLLECTION) == 0  # the bus confirmed it: nothing left in flight


async def test_a_retry_after_a_stop_between_the_two_writes_publishes_the_stored_message(
    rig: Rig, ingress: Ingress
) -> None:
    await rig.collect()
    key = await new_key(rig.store)
    first = parse_push({"content": "paid", "topic": "orders"}, idempotency_header="order-42")
    # The first try stored the message, then its process stopped before the outbox entry was written.
    message_id = await ingress.accept(key, first, trace_id="trace-1")
    await rig.wait_for(message_id)
    await rig.store.collection(outbox.COLLECTION).delete_many({})
    first_event = rig.received[0]

    retry = parse_push({"content": "paid again", "topic": "other"}, idempotency_header="order-42")
    assert await ingress.accept(key, retry, trace_id="trace-2") == message_id
    await publish_sentinel(rig, ingress)
    assert rig.received_ids()[:-1] == [message_id, message_id]
    assert rig.received[1] == first_event  # the message as first stored, not the retry's fields
    assert await count(rig.store, messages.COLLECTION) == 1
    stored = await messages.get_by_id(rig.store, message_id)
    assert stored is not None and stored["body"]["content"] == "paid"


async def test_a_retry_while_the_first_is_in_flight_answers_its_id_and_publishes_nothing(
    rig: Rig, ingress: Ingress
) -> None:
    key = await new_key(rig.store)
    push = parse_push({"content": "paid"}, idempotency_header="order-43")
    # Nothing is bound: the first publish is refused, so its entry waits in the outbox for the relay.
    message_id = await ingress.accept(key, push, trace_id="trace-1")
    assert await count(rig.store, outbox.COLLECTION) == 1
    await rig.collect()
    assert await ingress.accept(key, push, trace_id="trace-2") == message_id
    await publish_sentinel(rig, ingress)
    assert rig.received_ids()[:-1] == []
    assert await count(rig.store, messages.COLLECTION) == 1
    assert await count(rig.store, outbox.COLLECTION) == 1


async def test_group_links_are_refused_and_store_nothing(rig: Rig, ingress: Ingress) -> None:
    key = await new_key(rig.store, kind="group")
    with pytest.raises(ApiError) as refused:
        await ingress.accept(key, parse_push({"content": "to everyone"}), trace_id="trace-1")
    assert refused.value.ret == Ret.WRONG_STATE
    assert await count(rig.store, messages.COLLECTION) == 0
    assert await count(rig.store, outbox.COLLECTION) == 0
