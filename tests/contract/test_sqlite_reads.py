"""SQLite reads run on their own connection: never behind a write, always after the acknowledged ones."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from shared.store import StoreUnavailableError
from shared.store.sqlite import SqliteStore
from tests.waiting import eventually


async def test_a_read_does_not_wait_for_the_write_in_progress(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "igot.sqlite3")
    things = store.collection("things")
    await things.insert_one({"_id": "a", "n": 1})
    started, release = threading.Event(), threading.Event()
    events: list[str] = []

    def hold_the_write_transaction(conn: sqlite3.Connection) -> None:
        conn.execute("""INSERT INTO "things" (id, doc) VALUES ('b', '{"_id":"b","n":2}')""")
        started.set()
        release.wait(timeout=10)  # a read queued behind this write would be answered after it
        events.append("write finished")

    writing = asyncio.create_task(store.transact(hold_the_write_transaction))
    await eventually(started.is_set, what="the write transaction to start")
    found = await things.find({})
    one = await things.find_one({"n": {"$gte": 1}})
    counted = await things.count({})
    events.append("reads answered")
    release.set()
    await writing
    assert events == ["reads answered", "write finished"]
    assert (found, one, counted) == ([{"_id": "a", "n": 1}], {"_id": "a", "n": 1}, 1)  # nothing uncommitted
    assert await things.count({}) == 2
    await store.close()


async def test_a_read_sees_every_acknowledged_write(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "igot.sqlite3")
    things = store.collection("things")
    for i in range(60):
        await things.insert_one({"_id": f"t{i:02}", "n": 0})
        assert await things.count({}) == i + 1
        await things.update_one({"_id": f"t{i:02}"}, {"$inc": {"n": i}})
        assert await things.find_one({"_id": f"t{i:02}"}) == {"_id": f"t{i:02}", "n": i}
    # concurrent writers: whatever was acknowledged before the read was made is in it
    writes = [asyncio.create_task(things.insert_one({"_id": f"w{i:03}"})) for i in range(200)]
    done, _ = await asyncio.wait(writes, return_when=asyncio.FIRST_COMPLETED)
    acknowledged = {task.result() for task in writes if task.done()}
    seen = {doc["_id"] for doc in await things.find({"_id": {"$gte": "w"}})}
    assert done and acknowledged <= seen
    await asyncio.gather(*writes)
    assert await things.count({"_id": {"$gte": "w"}}) == 200
    await store.close()


async def test_a_table_not_created_yet_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "igot.sqlite3"
    store = SqliteStore(path)
    later = store.collection("later")
    assert (await later.find({}), await later.find_one({}), await later.count({"a": 1})) == ([], None, 0)
    assert not path.exists()  # reading did not create the file
    await store.collection("other").insert_one({"_id": "o"})
    assert (await later.find({}), await later.count({})) == ([], 0)
    await later.insert_one({"_id": "x"})
    assert await later.find({}) == [{"_id": "x"}]
    await store.close()


async def test_close_ends_both_threads(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    store = SqliteStore(tmp_path / "igot.sqlite3")
    ours = set(threading.enumerate()) - before
    assert len(ours) == 2
    await store.collection("things").insert_one({"_id": "a"})
    reads = [asyncio.create_task(store.collection("things").count({})) for _ in range(20)]
    await asyncio.sleep(0)
    await store.close()
    assert await asyncio.gather(*reads) == [1] * 20  # reads already made are answered
    with pytest.raises(StoreUnavailableError):
        await store.collection("things").find({})
    await eventually(lambda: not any(thread.is_alive() for thread in ours), timeout=10, what="threads to end")
