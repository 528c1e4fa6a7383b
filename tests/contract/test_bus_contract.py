"""The bus contract: the in-process and the RabbitMQ bus keep the semantics of `shared/bus/port.py`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from shared.bus import current_attempt
from shared.bus.amqp import AmqpBus
from shared.bus.port import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    MESSAGE_HEADER,
    TRACE_HEADER,
    BusUnavailableError,
    PermanentError,
    PublishError,
    TransientError,
)
from shared.failures import UnavailableError
from shared.messages.base import BusMessage
from tests.contract.bus_harness import (
    DELAYS,
    BadPing,
    Harness,
    Nobody,
    Ping,
    PingV2,
    PingV3,
    Pong,
    log_context,
    parked_count,
)
from tests.waiting import eventually


async def test_handler_gets_the_validated_model_with_the_log_context(harness: Harness) -> None:
    bus = await harness.bus()
    seen: list[tuple[Ping, dict[str, Any]]] = []

    async def handle(message: Ping) -> None:
        seen.append((message, log_context()))

    await bus.subscribe(harness.subscription("ctx", [Ping], handle))
    await bus.publish(Ping(n=1), headers={TRACE_HEADER: "trace-1", MESSAGE_HEADER: "msg-1"})
    await bus.publish(Ping(n=2))
    await eventually(lambda: len(seen) == 2)

    by_n = {message.n: (message, context) for message, context in seen}
    first, context = by_n[1]
    assert type(first) is Ping
    assert first == Ping(n=1)
    assert context["trace_id"] == "trace-1"
    assert context["message_id"] == "msg-1"
    assert context["queue"] == "ctx"
    generated = by_n[2][1]["trace_id"]
    assert isinstance(generated, str)
    assert len(generated) == 32
    assert generated != "trace-1"
    await bus.ping()


async def test_topic_wildcards(harness: Harness) -> None:
    bus = await harness.bus()
    star: list[BusMessage] = []
    hash_: list[BusMessage] = []

    async def on_star(message: BusMessage) -> None:
        star.append(message)

    async def on_hash(message: BusMessage) -> None:
        hash_.append(message)

    await bus.subscribe(
        harness.subscription("star", [Ping, Pong], on_star, routing_keys=["test.*.v1"], prefetch=1)
    )
    await bus.subscribe(harness.subscription("hash", [Ping, PingV2, Pong], on_hash, routing_keys=["test.#"]))

    await bus.publish(PingV2(n=1, note="v2"))
    await bus.publish(Pong(n=2))
    await bus.publish(Ping(n=3))
    await eventually(lambda: len(hash_) == 3 and len(star) == 2)

    # One at a time and in order: had `test.ping.v2` reached `star`, it would have been handled first.
    assert star == [Pong(n=2), Ping(n=3)]
    assert sorted(hash_, key=lambda m: m.model_dump()["n"]) == [PingV2(n=1, note="v2"), Pong(n=2), Ping(n=3)]
    assert await bus.parked("star") == []
    assert await bus.parked("hash") == []


async def test_two_subscriptions_both_receive_and_a_retry_goes_only_to_the_failing_one(
    harness: Harness,
) -> None:
    bus = await harness.bus()
    flaky: list[int] = []
    steady: list[int] = []

    async def on_flaky(message: Ping) -> None:
        flaky.append(message.n)
        if flaky.count(message.n) == 1:
            raise TransientError("not yet")

    async def on_steady(message: Ping) -> None:
        steady.append(message.n)

    await bus.subscribe(harness.subscription("flaky", [Ping], on_flaky))
    await bus.subscribe(harness.subscription("steady", [Ping], on_steady, prefetch=1))
    await bus.publish(Ping(n=1))
    await eventually(lambda: flaky == [1, 1])

    # A copy wrongly sent to `steady` would arrive there before this later message.
    await bus.publish(Ping(n=2))
    await eventually(lambda: len(steady) == 2 and len(flaky) == 4)
    assert steady == [1, 2]
    assert sorted(flaky) == [1, 1, 2, 2]


async def test_unroutable_publish_raises(harness: Harness) -> None:
    bus = await harness.bus()
    with pytest.raises(PublishError):
        await bus.publish(Nobody())

    async def handle(message: Ping) -> None:
        return None

    await bus.declare(harness.subscription("declared", [Ping], handle))
    with pytest.raises(PublishError):
        await bus.publish(Nobody())
    await bus.publish(Ping(n=1))


async def test_declared_queue_keeps_messages_until_subscribed(harness: Harness) -> None:
    bus = await harness.bus()
    got: list[Ping] = []

    async def handle(message: Ping) -> None:
        got.append(message)

    subscription = harness.subscription("later", [Ping], handle)
    await bus.declare(subscription)
    await bus.publish(Ping(n=7))
    await bus.subscribe(subscription)
    await eventually(lambda: len(got) == 1)
    assert got == [Ping(n=7)]


async def test_transient_error_is_retried_then_succeeds(harness: Harness) -> None:
    bus = await harness.bus()
    attempts: list[int] = []
    done = asyncio.Event()

    async def handle(message: Ping) -> None:
        attempts.append(log_context()["attempt"])
        if len(attempts) < 3:
            raise TransientError("try again")
        done.set()

    await bus.subscribe(harness.subscription("transient", [Ping], handle))
    started = time.monotonic()
    await bus.publish(Ping(n=1), headers={TRACE_HEADER: "trace-t"})
    await asyncio.wait_for(done.wait(), 15)
    assert attempts == [1, 2, 3]
    assert time.monotonic() - started >= sum(DELAYS)
    assert await bus.parked("transient") == []


async def test_a_dependency_that_stays_down_is_waited_for_never_parked(harness: Harness) -> None:
    bus = await harness.bus()
    attempts: list[int] = []
    done = asyncio.Event()

    async def handle(message: Ping) -> None:
        attempts.append(current_attempt())
        if len(attempts) <= len(DELAYS) + 2:  # past every delay: a transient error would park now
            raise UnavailableError("store unavailable")
        done.set()

    await bus.subscribe(harness.subscription("waiting", [Ping], handle))
    await bus.publish(Ping(n=1))
    await asyncio.wait_for(done.wait(), 15)
    assert attempts == list(range(1, len(DELAYS) + 4))
    assert await bus.parked("waiting") == []


async def test_always_failing_handler_ends_parked_after_every_delay(harness: Harness) -> None:
    bus = await harness.bus()
    calls: list[int] = []

    async def handle(message: Ping) -> None:
        calls.append(message.n)
        raise RuntimeError("boom")

    await bus.subscribe(harness.subscription("failing", [Ping], handle))
    await bus.publish(Ping(n=5), headers={TRACE_HEADER: "trace-f", MESSAGE_HEADER: "msg-f"})
    await eventually(lambda: parked_count(bus, "failing", 1))

    assert calls == [5] * (len(DELAYS) + 1)
    parked = await bus.parked("failing")
    assert len(parked) == 1
    item = parked[0]
    assert item.queue == "failing"
    assert item.routing_key == "test.ping.v1"
    assert item.error == "RuntimeError: boom"
    assert item.headers[ERROR_HEADER] == "RuntimeError: boom"
    assert json.loads(item.body) == {"type": "test.ping", "version": 1, "n": 5}
    assert item.headers[TRACE_HEADER] == "trace-f"
    assert item.headers[MESSAGE_HEADER] == "msg-f"
    assert item.headers[ATTEMPT_HEADER] == str(len(DELAYS) + 1)
    # Listing leaves them parked.
    assert await bus.parked("failing") == parked
    assert await bus.parked("unknown-queue") == []
    assert calls == [5] * (len(DELAYS) + 1)


async def test_permanent_error_parks_after_one_call(harness: Harness) -> None:
    bus = await harness.bus()
    calls: list[int] = []

    async def handle(message: Ping) -> None:
        calls.append(message.n)
        raise PermanentError("cannot ever work")

    await bus.subscribe(harness.subscription("permanent", [Ping], handle))
    await bus.publish(Ping(n=9))
    await eventually(lambda: parked_count(bus, "permanent", 1))
    parked = await bus.parked("permanent")
    assert calls == [9]
    assert [item.error for item in parked] == ["PermanentError: cannot ever work"]
    assert ATTEMPT_HEADER not in parked[0].headers


async def test_invalid_payloads_are_parked_without_calling_the_handler(harness: Harness) -> None:
    bus = await harness.bus()
    calls: list[BusMessage] = []

    async def handle(message: Ping) -> None:
        calls.append(message)

    await bus.subscribe(
        harness.subscription("strict", [Ping], handle, routing_keys=["test.ping.*"], prefetch=1)
    )
    await bus.publish(PingV3(n=1))
    await bus.publish(BadPing(n="not a number"))
    await bus.publish(Ping(n=3))
    await eventually(lambda: len(calls) == 1)
    await eventually(lambda: parked_count(bus, "strict", 2))

    assert calls == [Ping(n=3)]
    parked = await bus.parked("strict")
    assert [item.routing_key for item in parked] == ["test.ping.v3", "test.ping.v1"]
    assert parked[0].error == "invalid payload: no accepted model for type 'test.ping' version 3"
    assert parked[1].error.startswith("invalid payload: not a valid Ping: n: ")
    assert "not a number" not in parked[1].error


async def test_replay_brings_parked_messages_back(harness: Harness) -> None:
    bus = await harness.bus()
    broken = True
    handled: list[tuple[int, int]] = []

    async def handle(message: Ping) -> None:
        if broken:
            raise PermanentError("down for now")
        handled.append((message.n, log_context()["attempt"]))

    await bus.subscribe(harness.subscription("replayed", [Ping], handle))
    for n in (1, 2, 3):
        await bus.publish(Ping(n=n))
    await eventually(lambda: parked_count(bus, "replayed", 3))

    broken = False
    assert await bus.replay("replayed", limit=2) == 2
    await eventually(lambda: len(handled) == 2)
    assert len(await bus.parked("replayed")) == 1
    assert await bus.replay("replayed") == 1
    await eventually(lambda: len(handled) == 3)
    assert sorted(handled) == [(1, 1), (2, 1), (3, 1)]
    assert await bus.parked("replayed") == []
    assert await bus.replay("replayed") == 0


async def test_prefetch_bounds_concurrency(harness: Harness) -> None:
    bus = await harness.bus(prefetch=2)
    running = 0
    most = 0
    finished: list[int] = []
    gate = asyncio.Event()

    async def handle(message: Ping) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await gate.wait()
        finally:
            running -= 1
        finished.append(message.n)

    await bus.subscribe(harness.subscription("bounded", [Ping], handle))
    for n in range(5):
        await bus.publish(Ping(n=n))
    await eventually(lambda: running == 2)
    await asyncio.sleep(0.2)  # room for a third handler to start, were the bound not kept
    assert most == 2
    gate.set()
    await eventually(lambda: len(finished) == 5)
    assert sorted(finished) == [0, 1, 2, 3, 4]
    assert most == 2


async def test_stop_waits_for_the_handler_in_flight(harness: Harness) -> None:
    bus = await harness.bus()
    started = asyncio.Event()
    gate = asyncio.Event()
    finished: list[int] = []

    async def handle(message: Ping) -> None:
        started.set()
        await gate.wait()
        finished.append(message.n)

    await bus.subscribe(harness.subscription("stopping", [Ping], handle))
    await bus.publish(Ping(n=4))
    await asyncio.wait_for(started.wait(), 15)
    stopping = asyncio.create_task(bus.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()
    gate.set()
    await asyncio.wait_for(stopping, 15)
    assert finished == [4]
    assert await harness.depth("stopping") in (None, 0)


async def test_a_subscription_gets_each_version_as_its_own_model(harness: Harness) -> None:
    bus = await harness.bus()
    got: list[BusMessage] = []

    async def handle(message: Ping | PingV2) -> None:
        got.append(message)

    await bus.subscribe(harness.subscription("versions", [Ping, PingV2], handle, prefetch=1))
    await bus.publish(Ping(n=1))
    await bus.publish(PingV2(n=2, note="second"))
    await eventually(lambda: len(got) == 2)
    assert [type(message) for message in got] == [Ping, PingV2]
    assert got == [Ping(n=1), PingV2(n=2, note="second")]


async def test_amqp_bus_reports_an_unreachable_broker() -> None:
    bus = AmqpBus(
        "amqp://guest:guest@127.0.0.1:1/", exchange="igot-unreachable", prefetch=1, retry_delays=DELAYS
    )
    with pytest.raises(PublishError):
        await bus.publish(Ping(n=1))
    with pytest.raises(BusUnavailableError):
        await bus.ping()
    with pytest.raises(BusUnavailableError):
        await bus.start()
    await bus.stop()
