"""One vocabulary of failure for everything that retries: bus handlers and delivery channels alike.

The type alone decides what happens next: `TransientError` is tried again after a delay, `ThrottledError`
after the delay the other side asked for, `PermanentError` never again (a bus message parks, a delivery
moves on to the next way).
"""

from __future__ import annotations


class TransientError(Exception):
    """May succeed later (timeout, 5xx, store unavailable): retry after a delay."""


class ThrottledError(TransientError):
    """The other side asked us to slow down: retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying cannot help (bad target, refused, invalid input)."""
