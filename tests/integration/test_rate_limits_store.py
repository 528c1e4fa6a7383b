"""The rate limiter on both store adapters: burst and rate, shared by two "processes", nothing in clear.

Two processes are two limiters over two store objects (two SQLite connections to one file, two MongoDB
clients): they share nothing but the store. The clock is fixed by the test, so the counts are exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.data import rate_slots
from shared.rate_limit import SWEEP_GRACE_MS, Limit, RateLimiter, Refusal
from shared.store import Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore

FIVE_A_MINUTE = Limit("test", 5, 60.0)  # one slot every 12 seconds
INTERVAL_MS = 12_000
START_MS = 1_800_000_000_000 // INTERVAL_MS * INTERVAL_MS  # the first millisecond of a slot


class Clock:
    def __init__(self) -> None:
        self.now = START_MS

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def twin(store: Store, tmp_path: Path, mongo_url: str, namespace: str) -> AsyncIterator[Store]:
    """The same store opened again, as another process opens it."""
    other: Store = (
        SqliteStore(tmp_path / "s.sqlite3")
        if isinstance(store, SqliteStore)
        else MongoStore(mongo_url, namespace)
    )
    yield other
    await other.close()


async def stored(store: Store) -> list[str]:
    return [doc["_id"] for doc in await store.collection(rate_slots.COLLECTION).find({})]


async def admitted(limiter: RateLimiter, limit: Limit, subject: str, times: int) -> int:
    results = [await limiter.check(limit, subject) for _ in range(times)]
    return sum(result is None for result in results)


async def test_a_burst_up_to_the_count_then_one_slot_per_interval(store: Store) -> None:
    clock = Clock()
    limiter = RateLimiter(store, clock=clock)
    assert await admitted(limiter, FIVE_A_MINUTE, "key", 5) == 5
    assert await limiter.check(FIVE_A_MINUTE, "key") == Refusal(retry_after_seconds=12)
    clock.now += 5_500
    assert await limiter.check(FIVE_A_MINUTE, "key") == Refusal(retry_after_seconds=7)  # 6.5 s, rounded up
    assert len(await stored(store)) == 5  # refused uses leave nothing behind
    clock.now += 6_500  # the window moved on by one slot
    assert await admitted(limiter, FIVE_A_MINUTE, "key", 3) == 1
    clock.now += 60_000  # idle for a whole period: a full burst again
    assert await admitted(limiter, FIVE_A_MINUTE, "key", 7) == 5
    # Other subjects and other limits count on their own.
    assert await admitted(limiter, FIVE_A_MINUTE, "other key", 5) == 5
    assert await admitted(limiter, Limit("another", 2, 60.0), "key", 3) == 2


async def test_two_processes_share_one_budget(store: Store, twin: Store) -> None:
    clock = Clock()
    here, there = RateLimiter(store, clock=clock), RateLimiter(twin, clock=clock)
    assert await admitted(here, FIVE_A_MINUTE, "k1", 3) == 3
    # The second process knows nothing of them: its first try loses an insert, then finds the free slots.
    assert await admitted(there, FIVE_A_MINUTE, "k1", 3) == 2
    assert await here.check(FIVE_A_MINUTE, "k1") is not None

    # At the same moment, from both sides at once: still exactly the count.
    results = await asyncio.gather(
        *(limiter.check(FIVE_A_MINUTE, "k2") for _ in range(10) for limiter in (here, there))
    )
    assert sum(result is None for result in results) == 5
    assert len(await stored(store)) == 10


async def test_subjects_are_not_stored_in_clear(store: Store) -> None:
    limiter = RateLimiter(store, clock=Clock())
    key, address = "0123456789abcdef01234567", "203.0.113.7"
    assert await limiter.check(FIVE_A_MINUTE, key) is None
    assert await limiter.check(FIVE_A_MINUTE, address) is None
    everything = str(await store.collection(rate_slots.COLLECTION).find({}))
    assert key not in everything and address not in everything


async def test_a_limit_of_zero_is_off_and_stores_nothing(store: Store) -> None:
    limiter = RateLimiter(store, clock=Clock())
    assert await admitted(limiter, Limit("off", 0, 60.0), "key", 50) == 50
    assert await stored(store) == []


async def test_slots_are_swept_a_while_after_their_time(store: Store) -> None:
    clock = Clock()
    limiter = RateLimiter(store, clock=clock)
    assert await admitted(limiter, FIVE_A_MINUTE, "key", 5) == 5
    clock.now += 60_000 + SWEEP_GRACE_MS  # the last slot ended at +60 s: just within the grace
    assert await limiter.sweep_expired() == 4
    clock.now += 1
    assert await limiter.sweep_expired() == 1
    assert await stored(store) == []
