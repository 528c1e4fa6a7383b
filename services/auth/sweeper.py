"""Removes expired login codes and long-expired tokens (the store has no TTL indexes to do it)."""

from __future__ import annotations

from services.auth.data import login_codes
from shared.data import tokens
from shared.ids import now_ms
from shared.periodic import Periodic
from shared.store import Store


class ExpirySweeper:
    def __init__(self, store: Store, *, interval_seconds: float = 600.0) -> None:
        self._store = store
        self._periodic = Periodic(
            "expiry-sweeper",
            self.sweep_once,
            interval_seconds=interval_seconds,
            report="expired sign-in records removed",
        )

    async def sweep_once(self) -> int:
        now = now_ms()
        return await login_codes.delete_expired_before(self._store, now) + await tokens.delete_expired_before(
            self._store, now
        )

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
