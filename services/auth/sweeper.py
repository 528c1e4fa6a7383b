"""Removes expired login codes and long-expired tokens (the store has no TTL indexes to do it)."""

from __future__ import annotations

import asyncio
import contextlib

from services.auth.data import login_codes
from shared.data import tokens
from shared.ids import now_ms
from shared.logs import get_logger
from shared.store import Store, StoreError

log = get_logger("igot.auth.sweeper")


class ExpirySweeper:
    def __init__(self, store: Store, *, interval_seconds: float = 600.0) -> None:
        self._store = store
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def sweep_once(self) -> int:
        now = now_ms()
        return await login_codes.delete_expired_before(self._store, now) + await tokens.delete_expired_before(
            self._store, now
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="expiry-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                removed = await self.sweep_once()
                if removed:
                    log.info("expired sign-in records removed", count=removed)
            except StoreError as error:
                log.warning("sweep failed", error=str(error))
            await asyncio.sleep(self._interval)
