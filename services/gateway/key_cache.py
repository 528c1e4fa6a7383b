"""Push keys as the gateway resolves them: a busy key is read from the store once every few seconds.

Only keys that exist are cached, so a key created a moment ago works at once; a pause or delete takes
effect within the cache's TTL.
"""

from __future__ import annotations

from shared.data import keys
from shared.data.keys import PushKey
from shared.store import Store
from shared.ttl_cache import TtlCache


def key_cache(store: Store, *, ttl_seconds: float = 5.0) -> TtlCache[str, PushKey | None]:
    async def load(value: str) -> PushKey | None:
        return await keys.get_by_value(store, value)

    return TtlCache(load, ttl_seconds=ttl_seconds, keep=lambda key: key is not None)
