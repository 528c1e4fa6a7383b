"""Read escalation through crashes and duplicates, on the dispatcher rig (in-process bus, both stores).

A crash after a way's delivery was recorded but before its escalation check was published loses the
check with the handled request; the request comes again, finds the way delivered, and schedules the
check once more. Checks therefore come in duplicates: each step escalates once, to one way, whatever
the number of checks of it, and a late duplicate never skips ahead to the way after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.data import deliveries, delivery_preferences, push_ways
from shared.ids import new_id
from shared.messages.delivery import DeliveryRequestedV1, EscalationDueV1
from shared.messages.push import MessageAcceptedV2
from tests.integration.dispatcher_rig import SECRET, DispatcherRig, rig_on
from tests.waiting import eventually

DEVICE = "F8QhQ3kVvue9XyHEJXQZ"
ADDRESS = "me@example.com"
MINUTE_SECONDS = 0.3
ESCALATION_QUEUE = "dispatcher.escalation"
# Long enough that no check scheduled by a delivery comes due while a test runs.
FAR_MINUTES = 1000
SETTLE_SECONDS = 1.0


@pytest.fixture(params=["sqlite", "mongo"])
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_url: str, namespace: str
) -> AsyncIterator[DispatcherRig]:
    async with rig_on(
        request.param, tmp_path, mongo_url, namespace, escalation_minute_seconds=MINUTE_SECONDS
    ) as running:
        yield running


def escalation_checks(rig: DispatcherRig) -> float:
    counter = rig.metrics.bus_consumed.labels(queue=ESCALATION_QUEUE, outcome="ack")
    return float(counter._value.get())


async def delivered_on_bark(rig: DispatcherRig, user_id: str) -> MessageAcceptedV2:
    """A push delivered on Bark while escalation was off: no check was scheduled for it."""
    event: MessageAcceptedV2 = await rig.accepted_event(user_id, content="are you there")
    await rig.bus.publish(event)
    await eventually(lambda: rig.settled(event.message_id), what="the Bark delivery")
    record = await rig.record(event.message_id, "bark")
    assert record is not None and record["status"] == "delivered"
    return event


async def test_a_redelivered_request_schedules_the_check_its_crash_lost(rig: DispatcherRig) -> None:
    user_id = await rig.seed_ways(
        ["bark", "email"],
        bark={"key": DEVICE, "server": rig.bark.url, "status": push_ways.VERIFIED},
        email={"key": ADDRESS, "unsubscribe": "u-1", "status": push_ways.VERIFIED},
    )
    event = await delivered_on_bark(rig, user_id)
    await delivery_preferences.set_escalation_minutes(rig.store, user_id, 1)
    # The Bark request again, twice, as after a crash between the record and the check's publish.
    request = DeliveryRequestedV1(
        request_id=new_id(),
        entry_id=event.message_id,
        message_id=event.message_id,
        user_id=user_id,
        way="bark",
        remaining=("email",),
        created_at=event.created_at,
    )
    await rig.bus.publish(request)
    await rig.bus.publish(request)

    await eventually(lambda: len(rig.smtp.mails) == 1, timeout=20, what="the escalation by e-mail")
    # Two checks after Bark, at least one after the e-mail (which finds no way left).
    await eventually(lambda: escalation_checks(rig) >= 3, timeout=20, what="every check")
    assert len(rig.smtp.mails) == 1 and len(rig.bark.pushes) == 1
    email = await rig.record(event.message_id, "email")
    assert email is not None and email["status"] == "delivered"
    assert [attempt.get("escalation") for attempt in email["attempts"]] == [True]


async def test_a_late_duplicate_check_never_skips_to_the_way_after(rig: DispatcherRig) -> None:
    user_id = await rig.seed_ways(
        ["bark", "email", "webhook"],
        bark={"key": DEVICE, "server": rig.bark.url, "status": push_ways.VERIFIED},
        email={"key": ADDRESS, "unsubscribe": "u-1", "status": push_ways.VERIFIED},
        webhook={"key": rig.receiver.url, "secret": SECRET, "status": push_ways.VERIFIED},
    )
    event = await delivered_on_bark(rig, user_id)
    await delivery_preferences.set_escalation_minutes(rig.store, user_id, FAR_MINUTES)
    after_bark = EscalationDueV1(
        entry_id=event.message_id,
        message_id=event.message_id,
        user_id=user_id,
        way="bark",
        created_at=event.created_at,
    )
    await rig.bus.publish(after_bark)

    async def escalated_by_email() -> bool:
        record = await rig.record(event.message_id, "email")
        return record is not None and record["status"] == "delivered"

    await eventually(escalated_by_email, timeout=20, what="the escalation by e-mail")
    # The same check again, after its step delivered: it must not take the webhook, the step after.
    await rig.bus.publish(after_bark)
    await eventually(lambda: escalation_checks(rig) == 2, timeout=20, what="the duplicate check")
    with pytest.raises(AssertionError):
        await eventually(lambda: len(rig.receiver.requests) > 0, timeout=SETTLE_SECONDS)
    assert rig.receiver.requests == [] and len(rig.smtp.mails) == 1
    assert await rig.record(event.message_id, "webhook") is None
    claim = await rig.store.collection(deliveries.CLAIMS).find_one(
        {"_id": f"{deliveries.record_id(event.message_id, 'bark')}-escalation"}
    )
    assert claim is not None and (claim["way"], claim["remaining"]) == ("email", ["webhook"])


async def test_a_duplicate_check_whose_request_was_lost_requests_the_same_way(rig: DispatcherRig) -> None:
    """A check that claimed its step and crashed before its request was kept: the next copy makes the
    request again, for the way the claim names."""
    user_id = await rig.seed_ways(
        ["bark", "email", "webhook"],
        bark={"key": DEVICE, "server": rig.bark.url, "status": push_ways.VERIFIED},
        email={"key": ADDRESS, "unsubscribe": "u-1", "status": push_ways.VERIFIED},
        webhook={"key": rig.receiver.url, "secret": SECRET, "status": push_ways.VERIFIED},
    )
    event = await delivered_on_bark(rig, user_id)
    await delivery_preferences.set_escalation_minutes(rig.store, user_id, FAR_MINUTES)
    # The step claimed for the webhook (as if the user's order had put it next), its request lost.
    claim, claimed_now = await deliveries.claim_escalation(
        rig.store,
        entry_id=event.message_id,
        delivered_on="bark",
        way="webhook",
        remaining=[],
        now=event.created_at,
    )
    assert claimed_now and claim["way"] == "webhook"
    await rig.bus.publish(
        EscalationDueV1(
            entry_id=event.message_id,
            message_id=event.message_id,
            user_id=user_id,
            way="bark",
            created_at=event.created_at,
        )
    )

    await eventually(lambda: len(rig.receiver.requests) == 1, timeout=20, what="the claimed way")
    assert rig.smtp.mails == []
    webhook = await rig.record(event.message_id, "webhook")
    assert webhook is not None and webhook["attempts"][0]["escalation"] is True
