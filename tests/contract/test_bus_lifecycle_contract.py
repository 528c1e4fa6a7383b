"""The bus contract across restarts, topology changes, broadcasts and metrics, on both adapters.

A restart is a second bus over the same broker or SQLite file; a handler "killed" mid-way is one still
blocked when `stop` gives up on it (cancelled: no ack), or, in-process, a real process killed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from shared.bus.inprocess import InProcessBus
from shared.bus.port import PermanentError, PublishError, Subscription, TransientError
from shared.metrics import Metrics
from shared.store.sqlite import SqliteStore
from tests.contract.bus_harness import (
    Changed,
    Harness,
    NewKey,
    OldKey,
    Ping,
    Pong,
    parked_count,
)
from tests.waiting import eventually


async def nothing(message: object) -> None:
    return None


async def test_a_queued_message_survives_a_restart(harness: Harness) -> None:
    first = await harness.bus()
    await first.declare(harness.subscription("kept", [Ping], nothing))
    await first.publish(Ping(n=1))
    await first.stop()

    got: list[Ping] = []

    async def handle(message: Ping) -> None:
        got.append(message)

    second = await harness.bus(fresh_store=True)
    await second.subscribe(harness.subscription("kept", [Ping], handle))
    await eventually(lambda: got == [Ping(n=1)])


async def test_a_message_whose_handler_was_killed_is_delivered_again(harness: Harness) -> None:
    started = asyncio.Event()

    async def hang(message: Ping) -> None:
        started.set()
        await asyncio.Event().wait()

    first = await harness.bus(stop_timeout=0.1)
    await first.subscribe(harness.subscription("killed", [Ping], hang))
    await first.publish(Ping(n=2))
    await asyncio.wait_for(started.wait(), 15)
    await first.stop()  # gives up on the handler: it is cancelled, nothing acknowledged

    got: list[Ping] = []

    async def handle(message: Ping) -> None:
        got.append(message)

    second = await harness.bus(fresh_store=True)
    await second.subscribe(harness.subscription("killed", [Ping], handle))
    await eventually(lambda: got == [Ping(n=2)])


async def test_a_second_hop_is_never_lost_when_its_handler_is_killed(harness: Harness) -> None:
    started = asyncio.Event()
    hops: list[Pong] = []

    async def on_pong(message: Pong) -> None:
        hops.append(message)

    async def forward_then_hang(message: Ping) -> None:
        await first.publish(Pong(n=message.n))
        started.set()
        await asyncio.Event().wait()

    first = await harness.bus(stop_timeout=0.1)
    await first.declare(harness.subscription("hop.second", [Pong], on_pong))
    await first.subscribe(harness.subscription("hop.first", [Ping], forward_then_hang))
    await first.publish(Ping(n=3))
    await asyncio.wait_for(started.wait(), 15)
    await first.stop()

    redelivered: list[Ping] = []

    async def forward(message: Ping) -> None:
        redelivered.append(message)
        await second.publish(Pong(n=message.n))

    second = await harness.bus(fresh_store=True)
    await second.subscribe(harness.subscription("hop.second", [Pong], on_pong))
    await second.subscribe(harness.subscription("hop.first", [Ping], forward))
    await eventually(lambda: redelivered == [Ping(n=3)])
    # RabbitMQ took the first publish at once: the redelivery adds a second copy. In-process, the killed
    # handler's publish went with it, and the redelivery's publish is the one copy.
    expected = 1 if harness.kind == "inprocess" else 2
    await eventually(lambda: len(hops) == expected)
    assert hops == [Pong(n=3)] * expected


async def test_parked_messages_survive_a_restart_and_replay(harness: Harness) -> None:
    async def refuse(message: Ping) -> None:
        raise PermanentError("not now")

    first = await harness.bus()
    await first.subscribe(harness.subscription("parked.kept", [Ping], refuse))
    await first.publish(Ping(n=4))
    await eventually(lambda: parked_count(first, "parked.kept", 1))
    await first.stop()

    got: list[Ping] = []

    async def handle(message: Ping) -> None:
        got.append(message)

    second = await harness.bus(fresh_store=True)
    await second.subscribe(harness.subscription("parked.kept", [Ping], handle))
    parked = await second.parked("parked.kept")
    assert [item.error for item in parked] == ["PermanentError: not now"]
    assert got == []
    assert await second.replay("parked.kept") == 1
    await eventually(lambda: got == [Ping(n=4)])
    assert await second.parked("parked.kept") == []


async def test_prune_removes_the_bindings_no_longer_declared(harness: Harness) -> None:
    got: list[object] = []

    async def handle(message: object) -> None:
        got.append(message)

    bus = await harness.bus()
    await bus.declare(harness.subscription("pruned", [OldKey], nothing))
    await bus.publish(OldKey())  # bound: accepted
    removed = await bus.prune([harness.subscription("pruned", [NewKey], nothing)])
    assert removed == ["pruned <- old.key.v1"]

    with pytest.raises(PublishError):
        await bus.publish(OldKey())
    await bus.publish(NewKey())
    await bus.subscribe(harness.subscription("pruned", [OldKey, NewKey], handle, routing_keys=["new.key.v1"]))
    # The message queued before the prune stays; the refused one never arrives.
    await eventually(lambda: len(got) == 2)
    assert sorted(type(message).__name__ for message in got) == ["NewKey", "OldKey"]
    assert await bus.prune([harness.subscription("pruned", [NewKey], nothing)]) == []


async def test_prune_unbinds_a_queue_the_code_no_longer_declares(harness: Harness) -> None:
    bus = await harness.bus()
    await bus.declare(harness.subscription("retired", [OldKey], nothing))
    await bus.declare(harness.subscription("current", [NewKey], nothing))
    removed = await bus.prune([harness.subscription("current", [NewKey], nothing)])
    assert removed == ["retired <- old.key.v1"]
    with pytest.raises(PublishError):
        await bus.publish(OldKey())
    await bus.publish(NewKey())


async def test_every_replica_gets_a_broadcast_copy_and_a_durable_queue_one(harness: Harness) -> None:
    copies: dict[str, list[int]] = {"a": [], "b": []}
    durable: list[int] = []

    async def on_durable(message: Changed) -> None:
        durable.append(message.n)

    replicas = [await harness.bus(), await harness.bus()]
    for name, bus in zip(("a", "b"), replicas, strict=True):

        async def on_copy(message: Changed, name: str = name) -> None:
            copies[name].append(message.n)

        await bus.subscribe(harness.subscription("cache", [Changed], on_copy, broadcast=True))
        await bus.subscribe(harness.subscription("changes", [Changed], on_durable))

    for n in range(5):
        await replicas[n % 2].publish(Changed(n=n))
    await eventually(lambda: len(durable) == 5 and all(len(got) == 5 for got in copies.values()))
    assert sorted(durable) == [0, 1, 2, 3, 4]
    assert {name: sorted(got) for name, got in copies.items()} == {"a": [0, 1, 2, 3, 4]} | {
        "b": [0, 1, 2, 3, 4]
    }


async def test_a_broadcast_reaches_only_running_subscribers(harness: Harness) -> None:
    bus = await harness.bus()
    await bus.publish(Changed(n=1))  # nobody listens: a signal, not an error
    copies: list[int] = []
    calls = 0

    async def flaky(message: Changed) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransientError("dropped, never retried")
        copies.append(message.n)

    listener = await harness.bus()
    await listener.subscribe(harness.subscription("live", [Changed], flaky, broadcast=True))
    await bus.publish(Changed(n=2))
    await bus.publish(Changed(n=3))
    await eventually(lambda: copies == [3])
    await listener.stop()
    await bus.publish(Changed(n=4))
    assert copies == [3]
    assert calls == 2


async def test_metrics_count_publishes_and_outcomes(harness: Harness) -> None:
    metrics = Metrics()
    bus = await harness.bus(metrics=metrics)
    calls: list[int] = []

    async def handle(message: Ping) -> None:
        calls.append(message.n)
        if message.n == 2:
            raise PermanentError("never")
        if calls.count(message.n) == 1 and message.n == 1:
            raise TransientError("once")

    async def refuse_copy(message: Ping) -> None:
        raise RuntimeError("copy refused")

    await bus.subscribe(harness.subscription("counted", [Ping], handle, prefetch=1))
    await bus.subscribe(harness.subscription("counted.copy", [Ping], refuse_copy, broadcast=True))
    await bus.publish(Ping(n=1))
    await bus.publish(Ping(n=2))

    def sample(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    def consumed(queue: str, outcome: str) -> float:
        return sample("igot_bus_consumed_total", queue=queue, outcome=outcome)

    await eventually(lambda: consumed("counted", "ack") == 1 and consumed("counted", "park") == 1)
    await eventually(lambda: consumed("counted.copy", "drop") == 2)
    assert sample("igot_bus_published_total", routing_key="test.ping.v1") == 2
    assert consumed("counted", "retry") == 1
    assert consumed("counted.copy", "ack") == 0


ROOT = Path(__file__).resolve().parents[2]
_KILLED_CHILD = """
import asyncio, sys
from shared.bus.inprocess import InProcessBus
from shared.bus.port import Subscription
from shared.store.sqlite import SqliteStore
from tests.contract.bus_harness import Ping, Pong

async def main() -> None:
    store = SqliteStore(sys.argv[1])
    bus = InProcessBus(store, prefetch=4, retry_delays=(0.05,), poll_interval=0.1, lease_seconds=3600)
    await bus.start()

    async def forward_then_hang(message: Ping) -> None:
        await bus.publish(Pong(n=message.n))
        sys.stdout.write("handling\\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    async def never(message: Pong) -> None:
        raise AssertionError("not consumed here")

    await bus.declare(Subscription(queue="killed.second", models=[Pong], handler=never))
    await bus.subscribe(Subscription(queue="killed.first", models=[Ping], handler=forward_then_hang))
    await bus.publish(Ping(n=9))
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_inprocess_a_killed_process_loses_nothing(tmp_path: Path) -> None:
    """A real kill between a handler's publish and its ack: the message comes back, its hop once."""
    path = tmp_path / "killed.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_CHILD,
        str(path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"handling\n"
    finally:
        child.kill()
        await child.wait()

    store = SqliteStore(path)
    # A lease far beyond the test's patience: the message comes back only because the restarted bus sees
    # that the process holding it has ended.
    bus = InProcessBus(store, prefetch=4, retry_delays=(0.05,), poll_interval=0.1, lease_seconds=3600)
    await bus.start()
    firsts: list[Ping] = []
    seconds: list[Pong] = []

    async def forward(message: Ping) -> None:
        firsts.append(message)
        await bus.publish(Pong(n=message.n))

    async def on_pong(message: Pong) -> None:
        seconds.append(message)

    try:
        await bus.subscribe(Subscription(queue="killed.second", models=[Pong], handler=on_pong))
        await bus.subscribe(Subscription(queue="killed.first", models=[Ping], handler=forward))
        await eventually(lambda: firsts == [Ping(n=9)] and seconds == [Pong(n=9)])
        # Absence cannot be waited on: give a second copy a few poll rounds to show up.
        await asyncio.sleep(0.3)
        assert firsts == [Ping(n=9)]
        assert seconds == [Pong(n=9)]
    finally:
        await bus.stop()
        await store.close()


async def test_inprocess_dlq_replay_from_the_cli_reaches_the_running_consumer(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "igot.sqlite3")
    bus = InProcessBus(store, prefetch=4, retry_delays=(), poll_interval=0.1)
    await bus.start()
    broken = True
    handled: list[Ping] = []

    async def handle(message: Ping) -> None:
        if broken:
            raise PermanentError("down")
        handled.append(message)

    async def igot(*args: str) -> bytes:
        env = {**os.environ, "IGOT_MODE": "standalone", "IGOT_DATA_DIR": str(tmp_path)}
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("igot")), *args, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        return out

    try:
        await bus.subscribe(Subscription(queue="cli.replayed", models=[Ping], handler=handle))
        await bus.publish(Ping(n=6))
        await eventually(lambda: parked_count(bus, "cli.replayed", 1))
        listed = await igot("dlq", "list", "--queue", "cli.replayed")
        assert b'"error": "PermanentError: down"' in listed
        broken = False
        assert (
            await igot("dlq", "replay", "--queue", "cli.replayed")
            == b"replayed 1 message(s) to cli.replayed\n"
        )
        await eventually(lambda: handled == [Ping(n=6)])
        assert await bus.parked("cli.replayed") == []
    finally:
        await bus.stop()
        await store.close()
