"""Push keys as the gateway resolves them: a busy key is read from the store once every few seconds.

Only keys that exist are cached, so a key created a moment ago works at once. A pause, a deletion or a
disabled account takes effect at once when auth (or the admin CLI) announces it (`KeysChangedV1`, a
broadcast every gateway hears): the listener drops the named keys, or every key of the user when none
is named. Unannounced changes, or an announcement lost with the bus, take effect within the TTL.
"""

from __future__ import annotations

from shared.bus import Subscription
from shared.data import keys
from shared.data.keys import PushKey
from shared.logs import get_logger
from shared.messages.keys import KeysChangedV1
from shared.store import Store
from shared.ttl_cache import TtlCache

KeyCache = TtlCache[str, PushKey | None]
LISTENER_QUEUE = "gateway.key-cache"

log = get_logger("igot.gateway.keys")


def key_cache(store: Store, *, ttl_seconds: float = 5.0) -> KeyCache:
    async def load(value: str) -> PushKey | None:
        return await keys.get_by_value(store, value)

    return TtlCache(load, ttl_seconds=ttl_seconds, keep=lambda key: key is not None)


def forget_changed_keys(cache: KeyCache, change: KeysChangedV1) -> int:
    """Drop what `change` says is stale; returns how many entries were dropped."""
    named = set(change.keys)

    def stale(value: str, key: PushKey | None) -> bool:
        return value in named or (not named and key is not None and key.user_id == change.user_id)

    return cache.invalidate_where(stale)


def key_change_listener(cache: KeyCache) -> Subscription:
    """The broadcast subscription that keeps `cache` in step with announced changes."""

    async def on_change(change: KeysChangedV1) -> None:
        dropped = forget_changed_keys(cache, change)
        log.debug("cached keys dropped", user_id=change.user_id, count=dropped)

    return Subscription(queue=LISTENER_QUEUE, models=[KeysChangedV1], handler=on_change, broadcast=True)
