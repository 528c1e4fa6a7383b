"""Removes expired login codes, e-mailed sign-in codes a day past their expiry (their tries at once),
long-expired tokens, failed sign-ins that left the limiter's window, and push-way verification links a
week past their expiry with the log of verifications sent over a day ago (the store has no TTL indexes
to do it). Expired links are kept a while so that a late visit still hears "expired" rather than
"unknown"."""

from __future__ import annotations

from services.auth.data import login_codes, signin_codes, verifications
from services.auth.login_limiter import LoginLimiter
from shared.data import tokens
from shared.ids import now_ms
from shared.periodic import Periodic
from shared.store import Store

EXPIRED_LINKS_KEPT_MS = 7 * 24 * 3600 * 1000
SENDS_KEPT_MS = 24 * 3600 * 1000


class ExpirySweeper:
    def __init__(self, store: Store, limiter: LoginLimiter, *, interval_seconds: float = 60.0) -> None:
        self._store = store
        self._limiter = limiter
        self._periodic = Periodic(
            "expiry-sweeper",
            self.sweep_once,
            interval_seconds=interval_seconds,
            report="expired sign-in and verification records removed",
        )

    async def sweep_once(self) -> int:
        now = now_ms()
        removed = await login_codes.delete_expired_before(self._store, now)
        removed += await signin_codes.delete_expired_before(self._store, now)
        removed += await tokens.delete_expired_before(self._store, now) + await self._limiter.sweep()
        removed += await verifications.delete_expired_before(self._store, now - EXPIRED_LINKS_KEPT_MS)
        return removed + await verifications.delete_sends_before(self._store, now - SENDS_KEPT_MS)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
