"""Removes expired login codes, long-expired tokens and failed sign-ins that left the limiter's window
(the store has no TTL indexes to do it)."""

from __future__ import annotations

from services.auth.data import login_codes
from services.auth.login_limiter import LoginLimiter
from shared.data import tokens
from shared.ids import now_ms
from shared.periodic import Periodic
from shared.store import Store


class ExpirySweeper:
    def __init__(self, store: Store, limiter: LoginLimiter, *, interval_seconds: float = 60.0) -> None:
        self._store = store
        self._limiter = limiter
        self._periodic = Periodic(
            "expiry-sweeper",
            self.sweep_once,
            interval_seconds=interval_seconds,
            report="expired sign-in records removed",
        )

    async def sweep_once(self) -> int:
        now = now_ms()
        codes = await login_codes.delete_expired_before(self._store, now)
        return codes + await tokens.delete_expired_before(self._store, now) + await self._limiter.sweep()

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
