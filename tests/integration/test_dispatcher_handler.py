"""The dispatcher's consumers on a real bus and store: one entry and one delivery however often an event
arrives, a way's retry budget, and a way that fails for good."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.data import deliveries, inbox, messages
from shared.ids import new_id, now_ms
from shared.messages.delivery import DeliveryRequestedV1
from shared.messages.push import MessageAcceptedV1, MessageBody
from shared.topology import DISPATCHER_DELIVER
from tests.fakes.webhook_receiver import HANG
from tests.integration.dispatcher_rig import DispatcherRig, rig_on
from tests.waiting import eventually


@pytest.fixture(params=["sqlite", "mongo"])
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_url: str, namespace: str
) -> AsyncIterator[DispatcherRig]:
    async with rig_on(request.param, tmp_path, mongo_url, namespace) as running:
        yield running


async def test_redelivered_accepted_event_makes_one_entry_and_one_delivery(rig: DispatcherRig) -> None:
    user_id = await rig.seed_user()
    event = await rig.accepted_event(user_id)
    for _ in range(3):
        await rig.accepted.handle(event)
    await eventually(lambda: rig.settled(event.message_id), what="the entry settled")
    entries, count = await inbox.list_for_user(rig.store, user_id, skip=0, limit=10)
    assert count == 1
    assert {key: entries[0][key] for key in ("_id", "messageId", "mode", "status", "read")} == {
        "_id": event.message_id,
        "messageId": event.message_id,
        "mode": "webhook",
        "status": "delivered",
        "read": False,
    }
    await rig.accepted.handle(event)
    assert rig.receiver.ids() == [event.message_id]
    assert all(request.signature_valid for request in rig.receiver.requests)
    body = rig.receiver.requests[0].body
    assert (body["title"], body["content"], body["createTime"][-1]) == ("t", "hello", "Z")


async def test_redelivered_request_of_a_way_that_succeeded_sends_nothing(rig: DispatcherRig) -> None:
    user_id = await rig.seed_user()
    event = await rig.accepted_event(user_id)
    await rig.accepted.handle(event)
    await eventually(lambda: rig.settled(event.message_id), what="the entry settled")
    record = await rig.record(event.message_id)
    assert record is not None and record["status"] == "delivered" and record["tries"] == 1
    request = DeliveryRequestedV1(
        request_id=record["requestId"],
        entry_id=event.message_id,
        message_id=event.message_id,
        user_id=user_id,
        way="webhook",
        created_at=event.created_at,
    )
    await rig.webhook.handle(request)  # the same request, redelivered
    await rig.webhook.handle(request.model_copy(update={"request_id": new_id()}))  # published twice
    assert len(rig.receiver.requests) == 1
    record = await rig.record(event.message_id)
    assert record is not None and record["tries"] == 1 and len(record["attempts"]) == 1


async def test_a_duplicate_request_does_not_send_while_the_way_is_mid_send(rig: DispatcherRig) -> None:
    rig.receiver.script = [HANG]
    user_id = await rig.seed_user()
    event = await rig.accepted_event(user_id)
    await rig.accepted.handle(event)
    await eventually(lambda: len(rig.receiver.requests) == 1, what="the send to start")
    record = await rig.record(event.message_id)
    assert record is not None and record["status"] == "sending"
    duplicate = DeliveryRequestedV1(
        request_id=new_id(),
        entry_id=event.message_id,
        message_id=event.message_id,
        user_id=user_id,
        way="webhook",
        created_at=event.created_at,
    )
    await rig.webhook.handle(duplicate)
    rig.receiver.release()
    await eventually(lambda: rig.settled(event.message_id), what="the entry settled")
    assert len(rig.receiver.requests) == 1


async def test_a_way_that_keeps_failing_ends_failed_after_its_budget(rig: DispatcherRig) -> None:
    rig.receiver.otherwise = 503
    user_id = await rig.seed_user()
    event = await rig.accepted_event(user_id)
    seen: set[str] = set()

    async def settled() -> bool:
        entry = await rig.entry(event.message_id)
        if entry is not None:
            seen.add(entry["status"])
        return await rig.settled(event.message_id)

    await rig.bus.publish(event)
    await eventually(settled, what="the entry settled")
    entry = await rig.entry(event.message_id)
    assert entry is not None and (entry["mode"], entry["status"]) == ("inbox", "failed")
    assert seen <= {"pending", "failed"}
    record = await rig.record(event.message_id)
    assert record is not None and (record["status"], record["tries"]) == ("failed", 3)
    assert [attempt["result"] for attempt in record["attempts"]] == ["retry", "retry", "retry"]
    for attempt in record["attempts"]:
        assert attempt["way"] == "webhook" and "503" in attempt["error"] and attempt["latencyMs"] >= 0
    assert len(rig.receiver.requests) == 3
    # The consumer gave up within the bus's retries: nothing was parked.
    assert await rig.bus.parked(DISPATCHER_DELIVER["webhook"].name) == []
    assert [record["_id"] for record in await deliveries.list_for_entry(rig.store, entry["_id"])] == [
        deliveries.record_id(event.message_id, "webhook")
    ]


async def test_a_refusal_fails_the_way_at_once(rig: DispatcherRig) -> None:
    rig.receiver.otherwise = 404
    user_id = await rig.seed_user()
    event = await rig.accepted_event(user_id)
    await rig.bus.publish(event)
    await eventually(lambda: rig.settled(event.message_id), what="the entry settled")
    record = await rig.record(event.message_id)
    assert record is not None and (record["status"], record["tries"]) == ("failed", 1)
    assert [attempt["result"] for attempt in record["attempts"]] == ["failed"]
    assert len(rig.receiver.requests) == 1


async def test_inbox_only_without_a_verified_way_or_for_a_weak_message(rig: DispatcherRig) -> None:
    unverified = await rig.seed_user(webhook_status=1)
    verified = await rig.seed_user()
    for event in (
        await rig.accepted_event(unverified),
        await rig.accepted_event(verified, strong=False),
    ):
        await rig.accepted.handle(event)
        entry = await rig.entry(event.message_id)
        assert entry is not None and (entry["mode"], entry["status"]) == ("inbox", "delivered")
        assert await rig.record(event.message_id) is None
    assert rig.receiver.requests == []


async def test_version_1_stores_its_message_then_routes_like_version_2(rig: DispatcherRig) -> None:
    user_id = await rig.seed_user()
    v1 = MessageAcceptedV1(
        message_id=new_id(),
        user_id=user_id,
        body=MessageBody(title="old", content="from v1"),
        topic="t",
        created_at=now_ms(),
    )
    await rig.bus.publish(v1)
    await eventually(lambda: rig.settled(v1.message_id), what="the v1 entry settled")
    stored = await messages.get_by_id(rig.store, v1.message_id)
    assert stored is not None and (stored["senderId"], stored["body"]["content"], stored["topic"]) == (
        user_id,
        "from v1",
        "t",
    )
    assert rig.receiver.ids() == [v1.message_id]


async def test_old_try_claims_are_swept_and_recent_ones_kept(rig: DispatcherRig) -> None:
    claims = rig.store.collection(deliveries.CLAIMS)
    assert await deliveries.claim_try(rig.store, "entry-webhook", 2, request_id="r1", now=now_ms())
    assert not await deliveries.claim_try(rig.store, "entry-webhook", 2, request_id="r2", now=now_ms())
    assert await claims.count({}) == 1
    assert await deliveries.delete_claims_before(rig.store, now_ms() - deliveries.CLAIM_KEEP_MS) == 0
    assert await deliveries.delete_claims_before(rig.store, now_ms() + 1) == 1
    assert await claims.count({}) == 0
