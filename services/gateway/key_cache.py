"""A short-lived cache of push keys: a busy key is read from the store once every few seconds.

Only keys that exist are cached, so a key created a moment ago works at once; a pause or delete takes
effect within `ttl_seconds`.
"""

from __future__ import annotations

import time

from shared.data import keys
from shared.data.keys import PushKey
from shared.store import Store


class KeyCache:
    def __init__(self, store: Store, *, ttl_seconds: float = 5.0, max_entries: int = 50_000) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[str, tuple[float, PushKey]] = {}

    async def get(self, value: str) -> PushKey | None:
        now = time.monotonic()
        cached = self._entries.get(value)
        if cached is not None and cached[0] > now:
            return cached[1]
        key = await keys.get_by_value(self._store, value)
        if key is None:
            self._entries.pop(value, None)
            return None
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[value] = (now + self._ttl, key)
        return key
