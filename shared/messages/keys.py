"""Bus messages of the keys family: auth tells every process that caches push keys that some changed.

A broadcast: each running gateway (and any other cache of keys or users) hears its own copy and drops what
it holds for that user, so a pause, a deletion or a disabled account takes effect at once rather than
when a cache entry expires. Nobody listening is not an error: the store is the truth, caches only lag.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.messages.base import BusMessage


class KeysChangedV1(BusMessage):
    """The keys of `user_id` changed; `keys` names which (empty: any of them, or the account itself)."""

    BROADCAST: ClassVar[bool] = True

    type: Literal["keys.changed"] = "keys.changed"
    version: Literal[1] = 1

    user_id: str
    keys: tuple[str, ...] = ()
