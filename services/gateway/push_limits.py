"""The rate limits of push ingress: pushes per minute through one key and from one client address.

Both count in the store through the process's `RateLimiter`, so they hold across every gateway. Every
push counts against its client, one whose key is unknown, paused or gone too, so that guessing keys costs
the guesser its budget; against its key only once the key exists, so unknown keys leave nothing in the
store. A push whose key resolves is checked against both limits at once (one round of store writes).
Clients in the exempt networks are never limited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shared.data.keys import PushKey
from shared.envelope import ApiError, rate_limited
from shared.rate_limit import Limit, RateLimiter, client_subject

PERIOD_SECONDS = 60.0


class PushLimits:
    def __init__(self, limiter: RateLimiter, *, per_key: int, per_ip: int) -> None:
        self._limiter = limiter
        self._per_key = Limit("push-key", per_key, PERIOD_SECONDS)
        self._per_ip = Limit("push-ip", per_ip, PERIOD_SECONDS)

    async def admit(
        self, key_value: str, client: str | None, resolve: Callable[[str], Awaitable[PushKey]]
    ) -> PushKey:
        """The resolved key of a push its limits allow; raises `resolve`'s refusal or 205/429."""
        try:
            key = await resolve(key_value)
        except ApiError:
            await self.check_client(client)  # over its limit, a client hears 429 rather than why
            raise
        await asyncio.gather(self.check_client(client), self.check_key(key.value, client))
        return key

    def exempt(self, client: str | None) -> bool:
        return client is not None and self._limiter.is_exempt(client)

    async def check_client(self, client: str | None) -> None:
        """Count one push from `client` (None: not over HTTP, not limited); raises 205/429 when over."""
        if client is None or self.exempt(client):
            return
        refusal = await self._limiter.check(self._per_ip, client_subject(client))
        if refusal is not None:
            raise rate_limited(
                "too many pushes from this address, slow down",
                retry_after_seconds=refusal.retry_after_seconds,
            )

    async def check_key(self, key_value: str, client: str | None) -> None:
        """Count one push through an existing key; raises 205/429 when over."""
        if self.exempt(client):
            return
        refusal = await self._limiter.check(self._per_key, key_value)
        if refusal is not None:
            raise rate_limited(
                "too many pushes through this key, slow down",
                retry_after_seconds=refusal.retry_after_seconds,
            )
