"""Slows down guessing of login codes: failed attempts per client address in a sliding window."""

from __future__ import annotations

import time
from collections import deque


class LoginLimiter:
    def __init__(
        self, *, max_failures: int = 10, window_seconds: float = 60.0, max_clients: int = 100_000
    ) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, client: str) -> bool:
        failures = self._failures.get(client)
        if not failures:
            return False
        cutoff = time.monotonic() - self._window
        while failures and failures[0] < cutoff:
            failures.popleft()
        return len(failures) >= self._max

    def failed(self, client: str) -> None:
        if len(self._failures) >= self._max_clients:
            self._failures.clear()
        self._failures.setdefault(client, deque()).append(time.monotonic())
