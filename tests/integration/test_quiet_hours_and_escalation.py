"""Quiet hours and read escalation on the dispatcher rig (real consumers, in-process bus, both stores).

Quiet windows are set on the real clock with seconds (`HH:MM:SS` in UTC), so a held delivery comes due
a few seconds later through the bus's delayed publish; one escalation minute lasts a fraction of a
second here (`escalation_minute_seconds`), so nothing waits for minutes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.data import delivery_preferences, inbox, push_ways
from shared.data.delivery_preferences import QuietHours
from shared.messages.push import MessageAcceptedV2
from tests.integration.dispatcher_rig import SECRET, DispatcherRig, rig_on
from tests.waiting import eventually

DEVICE = "F8QhQ3kVvue9XyHEJXQZ"
ADDRESS = "me@example.com"
MINUTE_SECONDS = 0.3
ESCALATION_QUEUE = "dispatcher.escalation"


@pytest.fixture(params=["sqlite", "mongo"])
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_url: str, namespace: str
) -> AsyncIterator[DispatcherRig]:
    async with rig_on(
        request.param, tmp_path, mongo_url, namespace, escalation_minute_seconds=MINUTE_SECONDS
    ) as running:
        yield running


async def three_ways(rig: DispatcherRig) -> str:
    return await rig.seed_ways(
        ["bark", "email", "webhook"],
        bark={"key": DEVICE, "server": rig.bark.url, "status": push_ways.VERIFIED},
        email={"key": ADDRESS, "unsubscribe": "u-1", "status": push_ways.VERIFIED},
        webhook={"key": rig.receiver.url, "secret": SECRET, "status": push_ways.VERIFIED},
    )


def clock_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S")


async def quiet_until(rig: DispatcherRig, user_id: str, end: datetime) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    quiet = QuietHours(clock_time(start), clock_time(end), "UTC")
    await delivery_preferences.set_quiet_hours(rig.store, user_id, quiet)


def escalation_checks(rig: DispatcherRig) -> float:
    counter = rig.metrics.bus_consumed.labels(queue=ESCALATION_QUEUE, outcome="ack")
    return float(counter._value.get())


async def test_a_delivery_is_held_until_the_quiet_hours_end(rig: DispatcherRig) -> None:
    user_id = await three_ways(rig)
    end = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    await quiet_until(rig, user_id, end)
    event = await rig.accepted_event(user_id, content="good morning")
    await rig.bus.publish(event)

    async def in_the_inbox() -> bool:
        return await rig.entry(event.message_id) is not None

    await eventually(in_the_inbox, what="the inbox entry")  # at once, though quiet
    entry = await rig.entry(event.message_id)
    assert entry is not None and entry["status"] == "pending"
    await eventually(lambda: rig.settled(event.message_id), timeout=20, what="the held delivery")

    record = await rig.record(event.message_id, "bark")
    assert record is not None and record["status"] == "delivered"
    (attempt,) = record["attempts"]
    assert attempt["at"] >= end.timestamp() * 1000  # not before the quiet hours ended
    assert [push.body["body"] for push in rig.bark.pushes] == ["good morning"]


async def test_a_critical_message_goes_through_the_quiet_hours(rig: DispatcherRig) -> None:
    user_id = await three_ways(rig)
    await quiet_until(rig, user_id, datetime.now(UTC) + timedelta(hours=2))
    quiet = await rig.accepted_event(user_id, content="can wait")
    urgent_plain = await rig.accepted_event(user_id, content="wake up")
    urgent = MessageAcceptedV2(**{**urgent_plain.model_dump(), "urgent": True})
    await rig.bus.publish(quiet)
    await rig.bus.publish(urgent)

    await eventually(lambda: rig.settled(urgent.message_id), what="the critical delivery")
    assert [push.body["body"] for push in rig.bark.pushes] == ["wake up"]
    entry = await rig.entry(quiet.message_id)
    assert entry is not None and entry["status"] == "pending"  # held for two hours yet
    assert await rig.record(quiet.message_id, "bark") is None


async def test_an_unread_message_escalates_one_way_per_step_until_none_is_left(rig: DispatcherRig) -> None:
    user_id = await three_ways(rig)
    await delivery_preferences.set_escalation_minutes(rig.store, user_id, 1)
    event = await rig.accepted_event(user_id, content="are you there")
    await rig.bus.publish(event)

    await eventually(lambda: len(rig.receiver.requests) == 1, timeout=20, what="the last escalation")
    # The webhook was the last way: its delivery schedules one more check, which finds nothing left.
    await eventually(lambda: escalation_checks(rig) == 3, timeout=20, what="the third check")
    assert len(rig.bark.pushes) == 1 and len(rig.smtp.mails) == 1 and len(rig.receiver.requests) == 1
    bark, email, webhook = [await rig.record(event.message_id, way) for way in ("bark", "email", "webhook")]
    assert bark is not None and email is not None and webhook is not None
    assert "escalation" not in bark["attempts"][0]
    assert email["attempts"][0]["escalation"] is True and email["status"] == "delivered"
    assert webhook["attempts"][0]["escalation"] is True and webhook["status"] == "delivered"
    assert email["attempts"][0]["at"] >= bark["attempts"][0]["at"] + MINUTE_SECONDS * 1000


async def test_reading_the_message_first_cancels_the_escalation(rig: DispatcherRig) -> None:
    user_id = await three_ways(rig)
    await delivery_preferences.set_escalation_minutes(rig.store, user_id, 2)
    event = await rig.accepted_event(user_id, content="read me")
    await rig.bus.publish(event)
    await eventually(lambda: rig.settled(event.message_id), what="the Bark delivery")
    assert await inbox.mark_read(rig.store, user_id, event.message_id)

    await eventually(lambda: escalation_checks(rig) == 1, timeout=20, what="the escalation check")
    assert len(rig.bark.pushes) == 1
    assert rig.smtp.mails == [] and rig.receiver.requests == []
    assert await rig.record(event.message_id, "email") is None


async def test_a_failing_escalation_never_marks_the_delivered_message_failed(rig: DispatcherRig) -> None:
    user_id = await rig.seed_ways(
        ["bark", "email"],
        bark={"key": DEVICE, "server": rig.bark.url, "status": push_ways.VERIFIED},
        email={"key": ADDRESS, "unsubscribe": "u-1", "status": push_ways.VERIFIED},
    )
    rig.smtp.refuse[ADDRESS] = "550 5.1.1 no such user"
    await delivery_preferences.set_escalation_minutes(rig.store, user_id, 1)
    event = await rig.accepted_event(user_id)
    await rig.bus.publish(event)

    async def email_failed() -> bool:
        record = await rig.record(event.message_id, "email")
        return record is not None and record["status"] == "failed"

    await eventually(email_failed, timeout=20, what="the failed escalation")
    entry = await rig.entry(event.message_id)
    assert entry is not None and (entry["mode"], entry["status"]) == ("bark", "delivered")
