"""Collects ids and writes them in one store call per batch, off the hot path.

For writes that only save work later (removing outbox entries of messages that are safe): a batch lost
in a crash costs a re-publish that idempotent consumers absorb, never a message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.logs import get_logger
from shared.periodic import Periodic
from shared.store import StoreError

log = get_logger("igot.batching")
BATCH = 500


class IdBatcher:
    def __init__(
        self, name: str, write: Callable[[list[str]], Awaitable[None]], *, interval_seconds: float = 0.1
    ) -> None:
        self.name = name
        self._write = write
        self._pending: dict[str, None] = {}  # insertion-ordered, with a fast `in`
        self._periodic = Periodic(name, self.flush, interval_seconds=interval_seconds)

    def add(self, item_id: str) -> None:
        self._pending[item_id] = None

    def __contains__(self, item_id: str) -> bool:
        """Waiting to be written."""
        return item_id in self._pending

    async def flush(self) -> None:
        while self._pending:
            # Ids stay "waiting" until written, so nobody mistakes one in the middle of a write for done.
            batch = list(self._pending)[:BATCH]
            try:
                await self._write(batch)
            except StoreError as error:
                log.warning("batched write failed", batch=self.name, count=len(batch), error=str(error))
            for item_id in batch:
                self._pending.pop(item_id, None)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        await self.flush()
