"""A small read-through cache for hot lookups: each key is loaded at most once every `ttl_seconds`.

For what a request or a message needs on every pass and changes rarely (a push key, a user's push ways):
a change takes effect within the TTL, or at once where the owner of the data announces it and the
cache's holder drops the entries (`invalidate`, `invalidate_where`). Bounded: past `max_entries` the
oldest entry makes room.

A load that was under way while entries were dropped may have read the data before the change: its
result is handed to its caller but not kept, so a dropped entry never comes back stale.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        *,
        ttl_seconds: float = 5.0,
        max_entries: int = 50_000,
        keep: Callable[[V], bool] = lambda value: True,
    ) -> None:
        """`keep` says which loaded values are cached (e.g. not "missing", so a new key works at once)."""
        self._load = load
        self._ttl = ttl_seconds
        self._max = max_entries
        self._keep = keep
        self._entries: dict[K, tuple[float, V]] = {}
        self._generation = 0  # bumped by every invalidation: loads begun before it are not kept

    async def get(self, key: K) -> V:
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = self._generation
        value = await self._load(key)
        if generation != self._generation:
            return value
        self._entries.pop(key, None)
        if self._keep(value):
            if len(self._entries) >= self._max:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (now + self._ttl, value)
        return value

    def invalidate(self, key: K) -> None:
        self._generation += 1
        self._entries.pop(key, None)

    def invalidate_where(self, drop: Callable[[K, V], bool]) -> int:
        """Drop every entry for which `drop(key, value)` holds; returns how many were dropped."""
        self._generation += 1
        doomed = [key for key, (_, value) in self._entries.items() if drop(key, value)]
        for key in doomed:
            del self._entries[key]
        return len(doomed)
