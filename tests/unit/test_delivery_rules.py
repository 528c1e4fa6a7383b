"""Delivery rules with scripted channels: order, retries within a way's budget, fallback, all failing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from services.dispatcher import rules
from services.dispatcher.channels.base import Channel, Delivery, DeliveryResult
from shared.data import push_ways
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, ThrottledError, TransientError
from shared.messages.push import MessageBody

DELIVERY = Delivery(message_id="m" * 24, body=MessageBody(content="c"), app="iGot", created_at=0)
DELAYS = (0.1, 0.2)  # three tries per way


class Scripted(Channel):
    """Answers from a script, one entry per send: ok, permanent, transient, throttled, bug."""

    name: ClassVar[str] = "scripted"

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.sent: list[str] = []

    async def send(self, target: WayTarget, delivery: Delivery) -> DeliveryResult:
        self.sent.append(target.key)
        answer = self.script.pop(0) if self.script else "ok"
        if answer == "permanent":
            raise PermanentError("refused")
        if answer == "transient":
            raise TransientError("timeout")
        if answer == "throttled":
            raise ThrottledError("slow down", retry_after=7)
        if answer == "bug":
            raise KeyError("oops")
        return DeliveryResult(way=target.way)


async def run_chain(ways: Sequence[str], channels: dict[str, Scripted]) -> tuple[str, list[tuple[str, str]]]:
    """What the per-way consumers do together, without the bus: the entry's final status, the attempts."""
    attempts: list[tuple[str, str]] = []
    step = rules.next_step(ways)
    while step.way is not None:
        way, tries = step.way, 0
        while True:
            outcome = await rules.attempt(channels[way], WayTarget(way, f"{way}-target"), DELIVERY)
            tries += 1
            attempts.append((way, outcome.result))
            decision = rules.after_attempt(outcome, tries=tries, delays=DELAYS)
            if decision.status == "delivered":
                return way, attempts
            if not decision.retry:
                break
        step = rules.next_step(step.remaining)
    return "failed", attempts


async def test_first_way_delivers() -> None:
    webhook, email = Scripted("ok"), Scripted("ok")
    assert await run_chain(["webhook", "email"], {"webhook": webhook, "email": email}) == (
        "webhook",
        [("webhook", "delivered")],
    )
    assert email.sent == []


async def test_permanent_failure_moves_on_to_the_next_way_at_once() -> None:
    webhook, email = Scripted("permanent"), Scripted("ok")
    mode, attempts = await run_chain(["webhook", "email"], {"webhook": webhook, "email": email})
    assert (mode, attempts) == ("email", [("webhook", "failed"), ("email", "delivered")])
    assert webhook.sent == ["webhook-target"] and email.sent == ["email-target"]


async def test_transient_failures_are_retried_within_the_budget() -> None:
    webhook = Scripted("transient", "throttled", "ok")
    mode, attempts = await run_chain(["webhook"], {"webhook": webhook})
    assert (mode, [result for _, result in attempts]) == ("webhook", ["retry", "retry", "delivered"])


async def test_retries_then_fallback_when_the_budget_is_used_up() -> None:
    webhook, email = Scripted("transient", "bug", "transient"), Scripted("ok")
    mode, attempts = await run_chain(["webhook", "email"], {"webhook": webhook, "email": email})
    assert mode == "email"
    assert attempts == [("webhook", "retry")] * 3 + [("email", "delivered")]


async def test_every_way_failing_leaves_the_message_failed_in_the_inbox() -> None:
    webhook, email = Scripted("transient", "transient", "transient"), Scripted("permanent")
    mode, attempts = await run_chain(["webhook", "email"], {"webhook": webhook, "email": email})
    assert mode == "failed"
    assert attempts == [("webhook", "retry")] * 3 + [("email", "failed")]


async def test_an_attempt_keeps_the_error_and_the_provider_delay() -> None:
    throttled = await rules.attempt(Scripted("throttled"), WayTarget("webhook", "t"), DELIVERY)
    assert (throttled.result, throttled.error, throttled.retry_after) == ("retry", "slow down", 7)
    failed = await rules.attempt(Scripted("permanent"), WayTarget("webhook", "t"), DELIVERY)
    attempt = failed.as_attempt("webhook", at=5)
    assert attempt == {"way": "webhook", "at": 5, "result": "failed", "error": "refused", "latencyMs": 0}
    assert len(rules.AttemptOutcome("failed", error="x" * 900).as_attempt("w", at=1)["error"]) == 500


def test_entry_status_and_resuming_a_record() -> None:
    assert rules.entry_status([]) == "delivered"
    assert rules.entry_status([WayTarget("webhook", "u")]) == "pending"
    fresh = {"status": "pending", "tries": 0, "attempts": []}
    assert not rules.must_fall_back(fresh, DELAYS)
    retrying = {"status": "retrying", "tries": 2, "attempts": [{"result": "retry"}] * 2}
    assert not rules.must_fall_back(retrying, DELAYS)
    # Crashed after the last try, or after a permanent failure, before the next way was requested.
    assert rules.must_fall_back({**retrying, "tries": 3}, DELAYS)
    assert rules.must_fall_back({"status": "sending", "tries": 1, "attempts": [{"result": "failed"}]}, DELAYS)


def test_verified_ways_in_the_users_order() -> None:
    doc = {
        "_id": "u",
        "orders": ["webhook", "bark", "email", "webhook", "wechat"],
        "bark": {"key": "https://api.day.app/dev/", "status": push_ways.VERIFIED},
        "email": {"key": "me@example.com", "status": push_ways.BOUND},
        "wechat": {"key": "", "status": push_ways.VERIFIED},
        "webhook": {"key": "https://hooks.example.com/x", "secret": "s", "status": push_ways.VERIFIED},
    }
    assert push_ways.verified_in_order(doc) == [
        WayTarget("webhook", "https://hooks.example.com/x", "s"),
        WayTarget("bark", "https://api.day.app/dev/"),
    ]
    assert push_ways.verified_in_order(None) == []
    assert push_ways.target_of({**doc, "webhook": {"status": push_ways.UNBOUND}}, "webhook") is None
