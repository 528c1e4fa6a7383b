"""Collects ids and writes them in one store call per batch, off the hot path.

Used for state marks that only save work later (published, routed): losing a batch in a crash costs a
re-publish that idempotent consumers absorb, never a message.
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
        self._pending: list[str] = []
        self._periodic = Periodic(name, self.flush, interval_seconds=interval_seconds)

    def add(self, item_id: str) -> None:
        self._pending.append(item_id)

    async def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                await self._write(batch)
            except StoreError as error:
                log.warning("batched write failed", batch=self.name, count=len(batch), error=str(error))

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        await self.flush()
