"""Fallback across real channels on the dispatcher rig: Bark first, then e-mail, each on its own queue.

A permanent Bark failure (400, an unknown device key) moves to e-mail at once; a transient one (500) is
retried on Bark's budget first. Every attempt is recorded on the way's delivery record, and the inbox
entry says which way delivered. On the SQLite store and on the MongoDB-compatible server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.data import push_ways
from tests.integration.dispatcher_rig import DELAYS, DispatcherRig, rig_on
from tests.waiting import eventually

DEVICE = "F8QhQ3kVvue9XyHEJXQZ"
ADDRESS = "me@example.com"


@pytest.fixture(params=["sqlite", "mongo"])
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_url: str, namespace: str
) -> AsyncIterator[DispatcherRig]:
    async with rig_on(request.param, tmp_path, mongo_url, namespace) as running:
        yield running


async def bark_then_email(rig: DispatcherRig) -> str:
    return await rig.seed_ways(
        ["bark", "email", "webhook"],
        bark={"key": DEVICE, "server": rig.bark.url, "status": push_ways.VERIFIED},
        email={"key": ADDRESS, "unsubscribe": "u-1", "status": push_ways.VERIFIED},
    )


async def test_bark_delivers_when_it_works(rig: DispatcherRig) -> None:
    user_id = await bark_then_email(rig)
    event = await rig.accepted_event(user_id, content="on the phone")
    await rig.bus.publish(event)
    await eventually(lambda: rig.settled(event.message_id), what="the entry settled")
    entry = await rig.entry(event.message_id)
    assert entry is not None and (entry["mode"], entry["status"]) == ("bark", "delivered")
    (push,) = rig.bark.pushes
    assert push.body["body"] == "on the phone" and push.body["device_key"] == DEVICE
    assert rig.smtp.mails == []


async def test_a_permanent_bark_failure_falls_back_to_email(rig: DispatcherRig) -> None:
    rig.bark.otherwise = 400
    user_id = await bark_then_email(rig)
    event = await rig.accepted_event(user_id, content="by mail instead")
    await rig.bus.publish(event)
    await eventually(lambda: rig.settled(event.message_id), what="the entry settled")
    entry = await rig.entry(event.message_id)
    assert entry is not None and (entry["mode"], entry["status"]) == ("email", "delivered")
    assert len(rig.bark.pushes) == 1  # permanent: no retry
    bark = await rig.record(event.message_id, "bark")
    assert bark is not None and bark["status"] == "failed"
    (attempt,) = bark["attempts"]
    assert attempt["result"] == "failed" and "400" in attempt["error"] and attempt["latencyMs"] >= 0
    email = await rig.record(event.message_id, "email")
    assert email is not None and email["status"] == "delivered"
    (mail,) = rig.smtp.mails
    assert mail.rcpt_tos == (ADDRESS,) and "by mail instead" in mail.part("plain")


async def test_a_transient_bark_failure_is_retried_then_falls_back(rig: DispatcherRig) -> None:
    rig.bark.otherwise = 500
    user_id = await bark_then_email(rig)
    event = await rig.accepted_event(user_id)
    await rig.bus.publish(event)
    await eventually(lambda: rig.settled(event.message_id), what="the entry settled")
    entry = await rig.entry(event.message_id)
    assert entry is not None and (entry["mode"], entry["status"]) == ("email", "delivered")
    bark = await rig.record(event.message_id, "bark")
    assert bark is not None and bark["status"] == "failed"
    assert [attempt["result"] for attempt in bark["attempts"]] == ["retry"] * (len(DELAYS) + 1)
    assert len(rig.bark.pushes) == len(DELAYS) + 1
    assert len(rig.smtp.mails) == 1


async def test_every_way_failing_leaves_the_message_in_the_inbox(rig: DispatcherRig) -> None:
    rig.bark.otherwise = 400
    rig.smtp.refuse = {ADDRESS: "550 5.1.1 no such user"}
    user_id = await bark_then_email(rig)
    event = await rig.accepted_event(user_id)
    await rig.bus.publish(event)
    await eventually(lambda: rig.settled(event.message_id), what="the entry settled")
    entry = await rig.entry(event.message_id)
    assert entry is not None and (entry["mode"], entry["status"]) == ("inbox", "failed")
    email = await rig.record(event.message_id, "email")
    assert email is not None and email["status"] == "failed"
    assert "550" in email["attempts"][0]["error"]
