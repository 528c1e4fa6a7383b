"""Delivery rules with scripted channels: order, fallback on permanent failure, transient propagates."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from services.dispatcher.channels.base import Channel, Delivery, DeliveryResult
from services.dispatcher.delivery import PushWay, deliver
from shared.failures import PermanentError, TransientError
from shared.messages.push import MessageBody


class Scripted(Channel):
    """Answers from a script: "ok", "permanent" or "transient"; records targets."""

    name: ClassVar[str] = "scripted"

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.sent: list[str] = []

    async def send(self, target: str, delivery: Delivery) -> DeliveryResult:
        self.sent.append(target)
        if self.outcome == "permanent":
            raise PermanentError("refused")
        if self.outcome == "transient":
            raise TransientError("timeout")
        return DeliveryResult(way=self.name)


DELIVERY = Delivery(message_id="m" * 24, body=MessageBody(content="c"), app="iGot")


async def test_no_ways_means_inbox() -> None:
    outcome = await deliver(DELIVERY, [], {}, previous=[])
    assert outcome.mode == "inbox" and outcome.status == "delivered"
    assert [(a["way"], a["result"]) for a in outcome.attempts] == [("inbox", "delivered")]


async def test_permanent_failure_moves_on_to_the_next_way() -> None:
    bark, email = Scripted("permanent"), Scripted("ok")
    ways = [PushWay("bark", "dev"), PushWay("email", "me@x.org")]
    outcome = await deliver(DELIVERY, ways, {"bark": bark, "email": email}, previous=[])
    assert outcome.mode == "email"
    assert [(a["way"], a["result"]) for a in outcome.attempts] == [("bark", "failed"), ("email", "delivered")]
    assert outcome.attempts[0]["error"] == "refused"
    assert bark.sent == ["dev"] and email.sent == ["me@x.org"]


async def test_transient_failure_is_recorded_and_raised_for_the_bus_to_retry() -> None:
    previous: list[dict[str, Any]] = []
    email = Scripted("ok")
    with pytest.raises(TransientError):
        await deliver(
            DELIVERY,
            [PushWay("bark", "dev"), PushWay("email", "me@x.org")],
            {"bark": Scripted("transient"), "email": email},
            previous=previous,
        )
    assert [(a["way"], a["result"]) for a in previous] == [("bark", "retry")]
    assert email.sent == []


async def test_every_way_failing_permanently_still_leaves_the_inbox() -> None:
    outcome = await deliver(DELIVERY, [PushWay("bark", "dev")], {"bark": Scripted("permanent")}, previous=[])
    assert outcome.mode == "inbox"
    assert [a["way"] for a in outcome.attempts] == ["bark", "inbox"]
