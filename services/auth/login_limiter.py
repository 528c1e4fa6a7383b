"""Slows down guessing of login codes: failed sign-ins counted in the store, per client and server-wide.

Two lines of defence, both over a sliding window:

* per client: an address (an IPv6 client by its /64, which one subscriber usually holds whole) with
  `per_client` failures in the window is refused until the oldest of them leaves it;
* server-wide: `global_budget` failures in the window, from all clients together, refuse every sign-in
  for the rest of the window — guesses spread over many addresses still meet a limit.

The failures live in the store (`data.login_failures`), so every auth process and every restart sees the
same counts. Nothing is ever cleared wholesale: failures leave the window by age and the sweeper deletes
the oldest ones first; a refused attempt is not recorded, so the store holds at most about
`global_budget` failures per window however hard it is hammered.

It is not built on `shared.rate_limit`, which counts every use as it is made: here only failures count,
and whether a client may try is asked before the attempt, which a sliding window over the stored
failures answers exactly ("3 failures a minute" means 3, not 3 plus a slot that opened meanwhile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.auth.data import login_failures
from shared.ids import now_ms
from shared.rate_limit import client_subject
from shared.store import Store


@dataclass(frozen=True)
class Refusal:
    """Why sign-in is refused now, and in how many seconds to try again."""

    reason: str
    retry_after_seconds: int


def client_key(address: str) -> str:
    """What one client is counted as: an IPv4 address, the /64 of an IPv6 one (as every limit counts)."""
    return client_subject(address)


class LoginLimiter:
    def __init__(
        self, store: Store, *, per_client: int = 10, global_budget: int = 300, window_seconds: float = 60.0
    ) -> None:
        self._store = store
        self._per_client = per_client
        self._global_budget = global_budget
        self._window_ms = int(window_seconds * 1000)

    async def refusal(self, address: str) -> Refusal | None:
        """None when `address` may try to sign in now."""
        now = now_ms()
        since = now - self._window_ms
        client = client_key(address)
        count = await login_failures.count_for_client_since(self._store, client, since)
        if count >= self._per_client:
            oldest = await login_failures.nth_oldest_since(
                self._store, since, count - self._per_client, client=client
            )
            return Refusal("too many failed sign-ins, wait a minute", self._retry_after(oldest, now))
        total = await login_failures.count_since(self._store, since)
        if total >= self._global_budget:
            oldest = await login_failures.nth_oldest_since(self._store, since, total - self._global_budget)
            reason = "too many failed sign-ins on this server, wait a minute"
            return Refusal(reason, self._retry_after(oldest, now))
        return None

    async def failed(self, address: str) -> None:
        await login_failures.insert(self._store, client=client_key(address), at_ms=now_ms())

    async def sweep(self) -> int:
        """Delete the failures that left the window; returns how many."""
        return await login_failures.delete_before(self._store, now_ms() - self._window_ms)

    def _retry_after(self, leaves_at_ms: int | None, now: int) -> int:
        """Seconds until the failure that holds the block leaves the window (at least one)."""
        if leaves_at_ms is None:  # swept meanwhile: the block is about to lift
            return 1
        return max(1, math.ceil((leaves_at_ms + self._window_ms - now) / 1000))
