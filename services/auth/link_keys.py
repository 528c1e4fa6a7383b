"""A new link's push key: drawn until unused, inserted, and kept only within the user's number of links.

Temporary links and group links are both push keys a user makes, up to a number each. The count is read
before and after the insert, with no transaction: two creates racing for the last place both insert, and
the one that then counts more than allowed withdraws its own key, so the user never keeps more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.envelope import ApiError
from shared.ids import new_push_key
from shared.store import DuplicateKeyError


async def insert_within_cap(
    *,
    insert: Callable[[str], Awaitable[object]],
    count_live: Callable[[], Awaitable[int]],
    withdraw: Callable[[str], Awaitable[object]],
    cap: int,
    over_limit: Callable[[], ApiError],
) -> str:
    """Insert a link under a fresh key (`insert(key)`) unless the user has `cap` live ones; the key."""
    if await count_live() >= cap:
        raise over_limit()
    while True:
        key = new_push_key()
        try:
            await insert(key)
        except DuplicateKeyError:
            continue  # 96 random bits met an existing key: draw again
        break
    if await count_live() > cap:
        await withdraw(key)
        raise over_limit()
    return key
