"""Accepting a push on real adapters: stored once, ids on the bus, a retry repeats nothing.

An idempotency key stands for its first message for a bounded time: a retry answers its id, a reuse with
other content is refused, and the key is free again once its record expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.gateway.ingress import Ingress
from services.gateway.key_cache import key_cache
from services.gateway.outbox import OutboxRelay
from services.gateway.push_fields import parse_push
from shared.data import group_links, idempotency, keys, messages, outbox
from shared.envelope import ApiError, Ret
from shared.ids import new_id, new_push_key, now_ms
from shared.messages.push import MessageAcceptedV2, MessageBody
from shared.metrics import Metrics
from shared.models import PushRequest
from shared.store import Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore
from tests.integration.gateway_rig import MODES, Rig, open_rig
from tests.waiting import eventually

OWNER = "a" * 24
RACE_TTL_MS = 2000


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
    return Ingress(rig.store, rig.bus, key_cache(rig.store), relay, idempotency_ttl_seconds=3600)


def rig_path(tmp_path: Path) -> Path:
    """The SQLite file of the standalone rig (`tests.integration.gateway_rig.open_rig`)."""
    return tmp_path / "igot.sqlite3"


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
    push = parse_push({"content": "paid", "topic": "orders"}, idempotency_header="order-42")
    # The first try stored the message, then its process stopped before the outbox entry was written.
    message_id = await ingress.accept(key, push, trace_id="trace-1")
    await rig.wait_for(message_id)
    await rig.store.collection(outbox.COLLECTION).delete_many({})
    first_event = rig.received[0]

    assert await ingress.accept(key, push, trace_id="trace-2") == message_id
    await publish_sentinel(rig, ingress)
    assert rig.received_ids()[:-1] == [message_id, message_id]
    assert rig.received[1] == first_event  # the message as first stored
    assert await count(rig.store, messages.COLLECTION) == 1


async def test_a_retry_after_a_stop_before_the_message_was_written_stores_and_publishes_it(
    rig: Rig, ingress: Ingress
) -> None:
    await rig.collect()
    key = await new_key(rig.store)
    push = parse_push({"content": "paid"}, idempotency_header="order-44")
    # The first try claimed its idempotency record, then its process stopped before anything else.
    message_id = await ingress.accept(key, push, trace_id="trace-1")
    await rig.wait_for(message_id)
    for collection in (messages.COLLECTION, outbox.COLLECTION):
        await rig.store.collection(collection).delete_many({})

    assert await ingress.accept(key, push, trace_id="trace-2") == message_id
    await publish_sentinel(rig, ingress)
    assert rig.received_ids()[:-1] == [message_id, message_id]
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


async def test_a_reused_key_with_other_content_is_refused_and_stores_nothing(
    rig: Rig, ingress: Ingress
) -> None:
    key = await new_key(rig.store)
    first = parse_push({"content": "paid", "detail": {"a": 1, "b": 2}}, idempotency_header="order-45")
    message_id = await ingress.accept(key, first, trace_id="trace-1")
    # The same content with its extra fields in another order is the same push.
    same = parse_push({"detail": {"b": 2, "a": 1}, "content": "paid"}, idempotency_header="order-45")
    assert await ingress.accept(key, same, trace_id="trace-2") == message_id
    for other in (
        {"content": "paid twice"},
        {"content": "paid", "detail": {"a": 1, "b": 3}},
        {"content": "paid", "detail": {"a": 1, "b": 2}, "topic": "orders"},
        {"content": "paid", "detail": {"a": 1, "b": 2}, "title": "t"},
    ):
        with pytest.raises(ApiError) as refused:
            await ingress.accept(key, parse_push(other, idempotency_header="order-45"), trace_id="trace-3")
        assert (refused.value.ret, refused.value.http_status) == (Ret.INVALID, 422)
        assert refused.value.reason == "idempotency key reused with different content"
    assert await count(rig.store, messages.COLLECTION) == 1
    # The idempotency key belongs to its push key: another push key may use it for other content.
    other_key = await new_key(rig.store)
    elsewhere = parse_push({"content": "another shop"}, idempotency_header="order-45")
    assert await ingress.accept(other_key, elsewhere, trace_id="trace-4") != message_id
    assert await count(rig.store, messages.COLLECTION) == 2


async def test_an_expired_idempotency_key_is_free_again_and_swept(
    rig: Rig, ingress: Ingress, relay: OutboxRelay
) -> None:
    key = await new_key(rig.store)
    kept = parse_push({"content": "kept"}, idempotency_header="kept")
    kept_id = await ingress.accept(key, kept, trace_id="trace-1")
    records = rig.store.collection(idempotency.COLLECTION)
    (record,) = await records.find({})
    assert record["expiresAt"] - record["createdAt"] == 3600 * 1000
    assert "kept" not in str(record) and key not in str(record)  # neither key is stored in the clear

    brief = Ingress(rig.store, rig.bus, key_cache(rig.store), relay, idempotency_ttl_seconds=0.5)
    first = parse_push({"content": "monthly report"}, idempotency_header="report")
    first_id = await brief.accept(key, first, trace_id="trace-2")
    again = parse_push({"content": "next month's report"}, idempotency_header="report")
    with pytest.raises(ApiError):
        await brief.accept(key, again, trace_id="trace-3")

    # Within its time a retry answers the first id; past it, the key makes a new message.
    answers: list[str] = []

    async def key_is_free() -> bool:
        answers.append(await brief.accept(key, first, trace_id="trace-4"))
        return answers[-1] != first_id

    await eventually(key_is_free, timeout=5, what="the idempotency key to expire")
    assert set(answers[:-1]) <= {first_id}
    second_id = answers[-1]
    assert second_id != kept_id
    assert await brief.accept(key, first, trace_id="trace-5") == second_id
    assert await count(rig.store, messages.COLLECTION) == 3

    (second_record,) = await records.find({"messageId": second_id})
    second_expires = int(second_record["expiresAt"])
    await eventually(lambda: now_ms() > second_expires, timeout=5, what="the second record to expire")
    assert await brief.sweep_expired() == 2
    assert [doc["messageId"] for doc in await records.find({})] == [kept_id]
    await brief.drain()


async def test_replicas_racing_on_one_idempotency_key_store_one_message(
    rig: Rig, relay: OutboxRelay, tmp_path: Path, mongo_url: str, namespace: str
) -> None:
    """Each replica has a store connection of its own, as gateway processes do."""
    key = await new_key(rig.store)
    distributed = isinstance(rig.store, MongoStore)
    stores: list[Store] = [
        MongoStore(mongo_url, namespace) if distributed else SqliteStore(rig_path(tmp_path)) for _ in range(3)
    ]
    try:
        replicas = [
            Ingress(store, rig.bus, key_cache(store), relay, idempotency_ttl_seconds=RACE_TTL_MS / 1000)
            for store in stores
        ]

        async def race(push: PushRequest) -> str:
            # Records are named by TTL window: a race is started early in one, so all its claims fall in it.
            await eventually(lambda: now_ms() % RACE_TTL_MS < 300, timeout=5, what="a fresh window")
            answers = await asyncio.gather(
                *(replica.accept(key, push, trace_id="trace") for replica in replicas for _ in range(2))
            )
            assert len(set(answers)) == 1
            assert await rig.store.collection(messages.COLLECTION).count({"_id": answers[0]}) == 1
            return answers[0]

        pushes = [parse_push({"content": "paid"}, idempotency_header=f"race-{n}") for n in range(3)]
        first_ids = [await race(push) for push in pushes]
        assert await count(rig.store, messages.COLLECTION) == 3
        # Once its record has expired, replicas claiming the key at once still make one new message.
        started = now_ms()
        await eventually(lambda: now_ms() > started + RACE_TTL_MS, timeout=5, what="records to expire")
        assert await race(pushes[0]) not in first_ids
        assert await count(rig.store, messages.COLLECTION) == 4
        for replica in replicas:
            await replica.drain()
    finally:
        for store in stores:
            await store.close()


async def test_a_group_link_takes_pushes_while_active_for_fanout(rig: Rig, ingress: Ingress) -> None:
    """Durable first, like any push: the message (naming the link by its public id, never by its key)
    and an outbox entry for fanout; the topic is created on first use. Closed: refused, nothing stored."""
    key, link_id = new_push_key(), new_id()
    await group_links.insert(
        rig.store, key=key, user_id=OWNER, name="alerts", link_id=link_id, open=False, created_at=now_ms()
    )
    message_id = await ingress.accept(key, parse_push({"content": "to all", "topic": "ops"}), trace_id="t")
    stored = await messages.get_by_id(rig.store, message_id)
    assert stored is not None and key not in str(stored)
    assert (stored["keyKind"], stored["linkId"], stored["source"], stored["topic"]) == (
        "group",
        link_id,
        "alerts",
        "ops",
    )
    assert await group_links.get_topic(rig.store, link_id, "ops") is not None
    [entry] = await rig.store.collection(outbox.COLLECTION).find({})
    assert entry["event"]["type"] == "group.accepted" and entry["event"]["link_id"] == link_id
    await ingress.drain()

    closed, closed_id = new_push_key(), new_id()
    await group_links.insert(
        rig.store, key=closed, user_id=OWNER, name="x", link_id=closed_id, open=False, created_at=now_ms()
    )
    assert await group_links.change_status(
        rig.store, OWNER, closed, before=("active",), after="closed", now=now_ms()
    )
    with pytest.raises(ApiError) as refused:
        await ingress.accept(closed, parse_push({"content": "to everyone"}), trace_id="trace-1")
    assert (refused.value.ret, refused.value.http_status) == (Ret.KEY_INACTIVE, 403)
    assert await count(rig.store, messages.COLLECTION) == 1
