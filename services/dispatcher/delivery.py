"""Delivery rules: the inbox always, then the user's verified push ways in their order.

A permanent failure moves on to the next way at once; a transient one is left to the bus's delayed
retry (the consumer raises), so the way is tried again after a growing delay before the message parks.
Every attempt is recorded with its way, time, result and error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.dispatcher.channels.base import Channel, Delivery
from shared.failures import PermanentError
from shared.ids import now_ms

INBOX = "inbox"


@dataclass(frozen=True)
class PushWay:
    name: str
    target: str


@dataclass
class Outcome:
    mode: str = INBOX
    status: str = "delivered"
    attempts: list[dict[str, Any]] = field(default_factory=list)


async def deliver(
    delivery: Delivery,
    ways: Sequence[PushWay],
    channels: Mapping[str, Channel],
    *,
    previous: list[dict[str, Any]],
) -> Outcome:
    """Try the ways in order; a transient error propagates after being recorded in `previous`."""
    outcome = Outcome(attempts=previous)
    for way in ways:
        channel = channels.get(way.name)
        if channel is None:
            continue
        try:
            await channel.send(way.target, delivery)
        except PermanentError as error:
            outcome.attempts.append(_attempt(way.name, "failed", str(error)))
            continue
        except Exception as error:
            outcome.attempts.append(_attempt(way.name, "retry", str(error)))
            raise
        outcome.attempts.append(_attempt(way.name, "delivered"))
        outcome.mode = way.name
        return outcome
    outcome.attempts.append(_attempt(INBOX, "delivered"))
    return outcome


def _attempt(way: str, result: str, error: str | None = None) -> dict[str, Any]:
    attempt: dict[str, Any] = {"way": way, "at": now_ms(), "result": result}
    if error:
        attempt["error"] = error[:500]
    return attempt
