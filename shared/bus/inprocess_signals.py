"""The in-process bus's broadcasts across processes: the origin a store object writes them under, and the
reader that hands a bus the broadcasts written by every other store object over the same file.

Buses over one store object hand each other broadcasts in memory, at once; they skip the rows written
under their own origin. The table itself is `shared.bus.broadcast_table`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import weakref
from collections.abc import Callable
from functools import partial

from shared.bus import broadcast_table
from shared.bus.port import BusUnavailableError
from shared.bus.queue_table import Row
from shared.ids import new_id
from shared.logs import get_logger
from shared.store import StoreError
from shared.store.sqlite import SqliteStore

log = get_logger(__name__)
READ_LIMIT = 500

# Each store object's name in the broadcast table.
_ORIGINS: weakref.WeakKeyDictionary[SqliteStore, str] = weakref.WeakKeyDictionary()


def origin_of(store: SqliteStore) -> str:
    origin = _ORIGINS.get(store)
    if origin is None:
        origin = _ORIGINS[store] = f"{socket.gethostname()}/{os.getpid()}/{new_id()}"
    return origin


class SignalReader:
    """Reads the broadcast table every `poll_interval` and hands `deliver` each row from elsewhere."""

    def __init__(self, store: SqliteStore, *, poll_interval: float, deliver: Callable[[Row], None]) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._deliver = deliver
        self._seen = 0  # the table's last row read
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read from now on: what was broadcast before is not for a subscription made now."""
        try:
            self._seen = await self._store.transact(broadcast_table.latest)
        except StoreError as error:
            raise BusUnavailableError(f"the broadcast table cannot be read: {error}") from error
        self._task = asyncio.create_task(self._run(), name="bus broadcast reader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        mine = origin_of(self._store)
        while True:
            await asyncio.sleep(self._poll_interval)
            read = partial(broadcast_table.since, after=self._seen, limit=READ_LIMIT)
            try:
                found = await self._store.transact(read)
            except StoreError as error:
                log.warning("broadcast table not read", error=str(error))
                continue
            for seq, origin, row in found:
                self._seen = seq
                if origin != mine:
                    self._deliver(row)
