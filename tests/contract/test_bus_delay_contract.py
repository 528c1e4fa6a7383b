"""Delayed publishes keep the port's semantics on both buses: never early, not lost by a restart, once
per subscribing queue, and (on RabbitMQ, where routing happens when they come due) parked if unroutable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from shared.bus.port import TRACE_HEADER
from tests.contract.bus_harness import Changed, Harness, Ping, Pong, log_context, parked_count
from tests.waiting import eventually

DELAY = 1.5


async def test_a_delayed_message_is_handled_no_sooner_than_its_delay(harness: Harness) -> None:
    bus = await harness.bus()
    seen: list[tuple[int, float, str]] = []

    async def handle(message: Ping) -> None:
        seen.append((message.n, time.monotonic(), log_context()["trace_id"]))

    await bus.subscribe(harness.subscription("later", [Ping], handle))
    started = time.monotonic()
    await bus.publish(Ping(n=1), headers={TRACE_HEADER: "trace-later"}, delay_seconds=DELAY)
    await bus.publish(Ping(n=2))
    await eventually(lambda: len(seen) == 2, timeout=20, what="both messages")

    assert [n for n, _, _ in seen] == [2, 1]
    delayed = seen[1]
    assert delayed[1] - started >= DELAY
    assert delayed[2] == "trace-later"
    assert await bus.parked("later") == []


async def test_a_delayed_message_outlives_a_restart(harness: Harness) -> None:
    bus = await harness.bus()
    await bus.subscribe(harness.subscription("restart-later", [Ping], _ignore))
    await bus.publish(Ping(n=7), delay_seconds=DELAY)
    await bus.stop()

    seen: list[int] = []

    async def handle(message: Ping) -> None:
        seen.append(message.n)

    later = await harness.bus(fresh_store=True)
    await later.subscribe(harness.subscription("restart-later", [Ping], handle))
    await eventually(lambda: seen == [7], timeout=20, what="the delayed message after the restart")


async def test_every_subscribing_queue_gets_the_delayed_message_once(harness: Harness) -> None:
    bus = await harness.bus()
    seen: dict[str, list[int]] = {"one": [], "two": []}

    def handler(name: str) -> Callable[[Ping], Awaitable[None]]:
        async def handle(message: Ping) -> None:
            seen[name].append(message.n)

        return handle

    await bus.subscribe(harness.subscription("delay-one", [Ping], handler("one")))
    await bus.subscribe(harness.subscription("delay-two", [Ping], handler("two")))
    await bus.publish(Ping(n=3), delay_seconds=1)
    await eventually(lambda: seen == {"one": [3], "two": [3]}, timeout=20, what="one copy each")
    await asyncio.sleep(1.5)  # a second copy would have come by now
    assert seen == {"one": [3], "two": [3]}


async def test_a_broadcast_cannot_be_delayed(harness: Harness) -> None:
    bus = await harness.bus()
    with pytest.raises(ValueError, match="broadcast"):
        await bus.publish(Changed(n=1), delay_seconds=1)
    with pytest.raises(ValueError, match="negative"):
        await bus.publish(Ping(n=1), delay_seconds=-1)


async def test_amqp_parks_a_delayed_message_nobody_binds_when_it_comes_due(harness: Harness) -> None:
    if harness.kind != "amqp":
        pytest.skip("in-process, a publish nobody binds is refused at once")
    bus = await harness.bus()
    await bus.subscribe(harness.subscription("delay-bound", [Ping], _ignore))
    # A routing key no queue binds: accepted now (it is only routed when due), parked then.
    await bus.publish(Pong(n=1), delay_seconds=1)
    await eventually(lambda: parked_count(bus, "delay", 1), timeout=20, what="the parked delayed message")
    (parked,) = await bus.parked("delay")
    assert "no queue is bound" in parked.error


async def _ignore(message: Ping) -> None:
    return None
