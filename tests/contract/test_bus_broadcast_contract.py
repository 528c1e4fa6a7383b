"""Broadcasts reach every bus on the same broker or store file, other processes' too, on both adapters.

In-process, "another process" is a bus over a second store object on the same SQLite file (it shares
nothing in memory with the first), and once a real second process.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from shared.bus import broadcast_table, queue_table
from shared.bus.inprocess import InProcessBus
from shared.bus.port import Subscription
from shared.store.sqlite import SqliteStore
from tests.contract.bus_harness import Changed, Harness
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


async def test_a_broadcast_reaches_the_buses_of_another_process_once_each(harness: Harness) -> None:
    near: list[int] = []
    far: list[int] = []
    publisher = await harness.bus()

    async def on_near(message: Changed) -> None:
        near.append(message.n)

    async def on_far(message: Changed) -> None:
        far.append(message.n)

    await publisher.subscribe(harness.subscription("near", [Changed], on_near, broadcast=True))
    elsewhere = await harness.bus(fresh_store=True)
    await elsewhere.subscribe(harness.subscription("far", [Changed], on_far, broadcast=True))

    for n in range(3):
        await publisher.publish(Changed(n=n))
    await elsewhere.publish(Changed(n=10))
    # One publisher's copies arrive in order; two publishers' interleave in no promised order.
    await eventually(lambda: sorted(far) == sorted(near) == [0, 1, 2, 10], what="every copy, on both sides")
    assert [n for n in far if n < 10] == [0, 1, 2]
    # Nothing arrives twice: a last signal from each side, and then the lists hold each copy once.
    await publisher.publish(Changed(n=20))
    await elsewhere.publish(Changed(n=21))
    await eventually(lambda: {20, 21} <= set(far) and {20, 21} <= set(near), what="the last copies")
    assert sorted(far) == sorted(near) == [0, 1, 2, 10, 20, 21]


async def test_a_bus_hears_only_what_is_broadcast_while_it_listens(harness: Harness) -> None:
    publisher = await harness.bus()
    await publisher.publish(Changed(n=1))  # before anyone elsewhere listens
    got: list[int] = []

    async def record(message: Changed) -> None:
        got.append(message.n)

    listener = await harness.bus(fresh_store=True)
    await listener.subscribe(harness.subscription("late", [Changed], record, broadcast=True))
    await publisher.publish(Changed(n=2))
    await eventually(lambda: got == [2], what="the copy published while listening")
    await listener.stop()
    await publisher.publish(Changed(n=3))
    assert got == [2]


_PUBLISHING_CHILD = """
import asyncio, sys
from shared.bus.inprocess import InProcessBus
from shared.store.sqlite import SqliteStore
from tests.contract.bus_harness import Changed

async def main() -> None:
    store = SqliteStore(sys.argv[1])
    bus = InProcessBus(store, prefetch=1, retry_delays=())
    await bus.start()
    await bus.publish(Changed(n=int(sys.argv[2])))
    await bus.stop()
    await store.close()

asyncio.run(main())
"""


async def test_inprocess_a_broadcast_from_a_real_second_process_reaches_the_running_bus(
    tmp_path: Path,
) -> None:
    path = tmp_path / "igot.sqlite3"
    store = SqliteStore(path)
    bus = InProcessBus(store, prefetch=4, retry_delays=(), poll_interval=0.1)
    await bus.start()
    got: list[int] = []

    async def record(message: Changed) -> None:
        got.append(message.n)

    async def publish_elsewhere(n: int) -> None:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _PUBLISHING_CHILD,
            str(path),
            str(n),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert await asyncio.wait_for(child.wait(), 60) == 0

    try:
        await bus.subscribe(Subscription(queue="cache", models=[Changed], handler=record, broadcast=True))
        await publish_elsewhere(7)
        await eventually(lambda: got == [7], what="the other process's broadcast")
        await publish_elsewhere(8)
        await eventually(lambda: got == [7, 8], what="the next one, once")
    finally:
        await bus.stop()
        await store.close()


def test_broadcast_rows_are_pruned_after_a_minute(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "b.sqlite3", isolation_level=None)
    try:
        signal = broadcast_table.Signal("test.changed.v1", b"{}", {}, "t1")
        broadcast_table.insert(conn, [signal, signal], "here")
        old = queue_table.now_ms() - broadcast_table.KEEP_MS - 1
        conn.execute(f"UPDATE {broadcast_table.TABLE} SET published_at = ? WHERE seq = 1", (old,))
        broadcast_table.insert(conn, [signal], "there")
        rows = broadcast_table.since(conn, after=0, limit=10)
        assert [(seq, origin) for seq, origin, _ in rows] == [(2, "here"), (3, "there")]
        assert broadcast_table.latest(conn) == 3
        assert broadcast_table.since(conn, after=3, limit=10) == []
    finally:
        conn.close()
