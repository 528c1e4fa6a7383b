"""One vocabulary of failure for everything that retries: bus handlers and delivery channels alike.

The type alone decides what happens next: `TransientError` is tried again after a delay, `ThrottledError`
after the delay the other side asked for, `UnavailableError` (a dependency is down) again and again
without ever parking, `PermanentError` never again (a bus message parks, a delivery moves on to the next
way).
"""

from __future__ import annotations


class TransientError(Exception):
    """May succeed later (timeout, 5xx, store unavailable): retry after a delay."""


class ThrottledError(TransientError):
    """The other side asked us to slow down: retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(TransientError):
    """A dependency (the store, the broker) cannot be reached: nothing is wrong with the work itself, so it
    is retried at the longest delay for as long as that takes, never parked."""


class PermanentError(Exception):
    """Retrying cannot help (bad target, refused, invalid input)."""
