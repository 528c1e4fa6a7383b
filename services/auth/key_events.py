"""Telling the running processes that a user's keys changed (paused, resumed, deleted, owner disabled)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.bus import Bus, BusUnavailableError, PublishError
from shared.logs import get_logger
from shared.messages.keys import KeysChangedV1

log = get_logger("igot.auth.keys")


async def announce_keys_changed(bus: Bus, *, user_id: str, keys: Sequence[str] = ()) -> None:
    """Best effort: the change is already stored, and caches pick it up within their TTL anyway."""
    try:
        await bus.publish(KeysChangedV1(user_id=user_id, keys=tuple(keys)))
    except (PublishError, BusUnavailableError) as error:
        log.warning("keys change not announced; caches catch up within their TTL", error=str(error))
