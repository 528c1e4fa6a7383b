"""Verifications of newly bound push ways, sent over the bus through each way's channel consumer.

On the dispatcher rig (real in-process bus on SQLite, the fakes of Bark, SMTP and a webhook receiver): a
`VerificationRequestedV1` reaches the way's fake with its link; a stale one (the user re-bound, or already
verified) sends nothing; a failing send is retried on the way's budget, then dropped, never parked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.data import deliveries, inbox, push_ways
from shared.ids import new_id, now_ms
from shared.messages.delivery import VerificationRequestedV1
from shared.topology import DISPATCHER_DELIVER
from tests.integration.dispatcher_rig import DELAYS, SECRET, DispatcherRig, dispatcher_rig
from tests.waiting import eventually

DEVICE = "F8QhQ3kVvue9XyHEJXQZ"
ADDRESS = "me@example.com"
LINK = "https://igot.example.com/verify/2f1c0f8e4f6b4a3c9d7e8b1a0c2d3e4f"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[DispatcherRig]:
    async with dispatcher_rig(tmp_path) as running:
        yield running


def way_settings(rig: DispatcherRig, way: str, *, status: int = push_ways.BOUND) -> dict[str, object]:
    if way == "bark":
        return {"key": DEVICE, "server": rig.bark.url, "status": status}
    if way == "email":
        return {"key": ADDRESS, "unsubscribe": "u-1", "status": status}
    return {"key": rig.receiver.url, "secret": SECRET, "status": status}


def request(user_id: str, way: str, key: str) -> VerificationRequestedV1:
    return VerificationRequestedV1(
        request_id=new_id(),
        user_id=user_id,
        way=way,
        key=key,
        title="Verify this push way",
        content="Open the link to start receiving iGot messages here.",
        url=LINK,
        created_at=now_ms(),
    )


def handled(rig: DispatcherRig, way: str, outcome: str = "ack") -> float:
    queue = DISPATCHER_DELIVER[way].name
    value = rig.metrics.registry.get_sample_value(
        "igot_bus_consumed_total", {"queue": queue, "outcome": outcome}
    )
    return value or 0.0


def sent(rig: DispatcherRig, way: str) -> int:
    return {
        "bark": len(rig.bark.pushes),
        "email": len(rig.smtp.mails),
        "webhook": len(rig.receiver.requests),
    }[way]


@pytest.mark.parametrize("way", ["bark", "email", "webhook"])
async def test_the_link_reaches_the_way(rig: DispatcherRig, way: str) -> None:
    settings = way_settings(rig, way)
    user_id = await rig.seed_ways([way], **{way: settings})
    verification = request(user_id, way, str(settings["key"]))
    await rig.bus.publish(verification)
    await eventually(lambda: sent(rig, way) == 1, what=f"the verification on {way}")
    if way == "bark":
        (push,) = rig.bark.pushes
        assert push.body["device_key"] == DEVICE and push.body["url"] == LINK
        assert push.body["title"] == "Verify this push way" and "autoCopy" not in push.body
    elif way == "email":
        (mail,) = rig.smtp.mails
        assert mail.rcpt_tos == (ADDRESS,) and mail.message["Subject"] == "Verify this push way"
        assert LINK in mail.part("plain") and f'<a href="{LINK}">' in mail.part("html")
    else:
        (received,) = rig.receiver.requests
        assert received.signature_valid and received.body["url"] == LINK
        assert received.body["id"] == verification.request_id
    await eventually(lambda: handled(rig, way) == 1, what="the request acknowledged")
    # Not an inbox message: no entry, no delivery record.
    assert await inbox.get_by_id(rig.store, verification.request_id) is None
    assert await deliveries.list_for_entry(rig.store, verification.request_id) == []


@pytest.mark.parametrize(
    ("case", "status", "key"),
    [
        ("re-bound to another key", push_ways.BOUND, "old-device"),
        ("verified already", push_ways.VERIFIED, DEVICE),
    ],
)
async def test_a_stale_request_sends_nothing(rig: DispatcherRig, case: str, status: int, key: str) -> None:
    user_id = await rig.seed_ways(["bark"], bark=way_settings(rig, "bark", status=status))
    await rig.bus.publish(request(user_id, "bark", key))
    await eventually(lambda: handled(rig, "bark") == 1, what="the request handled")
    assert rig.bark.pushes == []


async def test_an_unbound_way_sends_nothing(rig: DispatcherRig) -> None:
    user_id = await rig.seed_ways(["bark"], bark={"key": "", "status": push_ways.UNBOUND})
    await rig.bus.publish(request(user_id, "bark", DEVICE))
    await eventually(lambda: handled(rig, "bark") == 1, what="the request handled")
    assert rig.bark.pushes == []


async def test_a_transient_failure_is_retried_then_dropped_not_parked(rig: DispatcherRig) -> None:
    rig.bark.otherwise = 500
    user_id = await rig.seed_ways(["bark"], bark=way_settings(rig, "bark"))
    await rig.bus.publish(request(user_id, "bark", DEVICE))
    await eventually(lambda: handled(rig, "bark") == 1, what="the request settled")
    assert len(rig.bark.pushes) == len(DELAYS) + 1  # every try of the way's budget, then no more
    assert handled(rig, "bark", "retry") == len(DELAYS)
    assert await rig.bus.parked(DISPATCHER_DELIVER["bark"].name) == []


async def test_a_permanent_failure_is_dropped_at_once(rig: DispatcherRig) -> None:
    rig.smtp.refuse = {ADDRESS: "550 5.1.1 no such user"}
    user_id = await rig.seed_ways(["email"], email=way_settings(rig, "email"))
    await rig.bus.publish(request(user_id, "email", ADDRESS))
    await eventually(lambda: handled(rig, "email") == 1, what="the request settled")
    assert rig.smtp.mails == [] and handled(rig, "email", "retry") == 0
    assert await rig.bus.parked(DISPATCHER_DELIVER["email"].name) == []
