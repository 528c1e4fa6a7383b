"""Delivery rules: the inbox always, then the user's verified push ways in their order, one at a time.

Pure decisions, apart from `attempt`, which calls one channel and says how it went:

* a strong message with verified ways starts `pending` on the first way; otherwise the inbox is its
  delivery and it is `delivered` at once;
* each way has a budget of `len(delays) + 1` tries; a transient failure is retried while the budget
  lasts, a permanent one (or the budget used up) moves on to the next way at once;
* with no way left the message stays in the inbox, its delivery `failed`;
* during the user's quiet hours a way's delivery waits until they end (`quiet_hold_seconds`), unless the
  message is urgent;
* read escalation: once a way delivered and the message is still unread after the user's delay, the next
  verified way in the user's order that has not been tried for it delivers it too (`escalation_step`).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.dispatcher.channels.base import Channel, Delivery
from shared.data.deliveries import new_attempt
from shared.data.delivery_preferences import QuietHours, parse_time_of_day
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, ThrottledError, TransientError
from shared.logs import get_logger
from shared.store import Document

INBOX = "inbox"
log = get_logger("igot.dispatcher.rules")


@dataclass(frozen=True)
class AttemptOutcome:
    """How one send went: `delivered`, `retry` (transient) or `failed` (permanent)."""

    result: str
    error: str | None = None
    retry_after: float | None = None  # the provider asked us to wait this long
    latency_ms: int = 0

    def as_attempt(self, way: str, *, at: int) -> Document:
        return new_attempt(way, at=at, result=self.result, latency_ms=self.latency_ms, error=self.error)


@dataclass(frozen=True)
class Decision:
    """What follows an attempt: the status written with it, whether the bus retries, whether to move on.

    A way that failed for good keeps its status until the next way is requested (`status` None): a crash
    in between leaves a record that `must_fall_back`, so the next way is never skipped.
    """

    status: str | None  # delivered | retrying | None
    retry: bool = False
    fall_back: bool = False


@dataclass(frozen=True)
class NextStep:
    """After a way failed for good: the next way to try with the ways after it, or none (inbox only)."""

    way: str | None
    remaining: tuple[str, ...] = ()


def entry_status(ways: Sequence[WayTarget]) -> str:
    """An entry with push ways to try waits for them; without, the inbox is its delivery."""
    return "pending" if ways else "delivered"


def tries_allowed(delays: Sequence[float]) -> int:
    return len(delays) + 1


def budget_used_up(tries: int, delays: Sequence[float]) -> bool:
    return tries >= tries_allowed(delays)


def must_fall_back(record: Document, delays: Sequence[float]) -> bool:
    """A record not final yet whose way is done: its last attempt failed for good, or no try is left."""
    attempts = record.get("attempts") or []
    if attempts and attempts[-1].get("result") == "failed":
        return True
    return budget_used_up(int(record.get("tries", 0)), delays)


def after_attempt(outcome: AttemptOutcome, *, tries: int, delays: Sequence[float]) -> Decision:
    """`tries` counts the attempt just made."""
    if outcome.result == "delivered":
        return Decision("delivered")
    if outcome.result == "retry":
        if budget_used_up(tries, delays):
            return Decision("retrying", fall_back=True)
        return Decision("retrying", retry=True)
    return Decision(None, fall_back=True)


def next_step(remaining: Sequence[str]) -> NextStep:
    if not remaining:
        return NextStep(None)
    return NextStep(remaining[0], tuple(remaining[1:]))


async def attempt(channel: Channel, target: WayTarget, delivery: Delivery) -> AttemptOutcome:
    """One send; the error's type alone decides retry (transient, throttled) or fail now (permanent)."""
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        await channel.send(target, delivery)
    except PermanentError as error:
        return AttemptOutcome("failed", error=_text(error), latency_ms=took())
    except ThrottledError as error:
        return AttemptOutcome("retry", error=_text(error), retry_after=error.retry_after, latency_ms=took())
    except TransientError as error:
        return AttemptOutcome("retry", error=_text(error), latency_ms=took())
    except Exception as error:
        # A channel should only raise the shared failures; anything else is a bug worth retrying past.
        log.exception("channel failed unexpectedly", channel=channel.name)
        return AttemptOutcome("retry", error=f"{type(error).__name__}: {error}", latency_ms=took())
    return AttemptOutcome("delivered", latency_ms=took())


def way_gone() -> AttemptOutcome:
    return AttemptOutcome("failed", error="way no longer bound")


def message_gone() -> AttemptOutcome:
    return AttemptOutcome("failed", error="message no longer stored")


def quiet_hold_seconds(quiet: QuietHours | None, now: datetime, *, urgent: bool = False) -> float:
    """How long a delivery starting `now` waits for the quiet hours to end: 0 outside them (or urgent).

    Quiet hours run from `start` (included) to `end` (excluded) in the user's zone, across midnight when
    `end` is earlier; their end is the next `end` on the local clock, so a DST change shortens or
    lengthens the night as the user's own clock does. Unreadable settings hold nothing.
    """
    if quiet is None or not quiet.enabled or urgent:
        return 0.0
    start, end = parse_time_of_day(quiet.start), parse_time_of_day(quiet.end)
    if start is None or end is None or start == end:
        return 0.0
    try:
        zone = ZoneInfo(quiet.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return 0.0
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return 0.0
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    ends_at = datetime.combine(end_day, end, tzinfo=zone)
    return max(0.0, (ends_at.astimezone(UTC) - now.astimezone(UTC)).total_seconds())


def escalation_step(ways_in_order: Sequence[str], delivered_on: str, tried: Collection[str]) -> NextStep:
    """The way a still-unread message escalates to after `delivered_on`, and those after it.

    The verified ways after `delivered_on` in the user's order that have no delivery for this message
    yet (a way already tried, e.g. one that failed before `delivered_on` took over, is not tried again);
    when `delivered_on` is no longer among the verified ways, every untried one. None left: no step.
    """
    after = (
        list(ways_in_order[ways_in_order.index(delivered_on) + 1 :])
        if delivered_on in ways_in_order
        else list(ways_in_order)
    )
    untried = [way for way in after if way not in tried and way != delivered_on]
    return next_step(untried)


def _text(error: BaseException) -> str:
    return str(error) or type(error).__name__
