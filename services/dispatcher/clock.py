"""The dispatcher's clock: what time it is for its delivery rules (quiet hours).

A clock object rather than the system time read inline, so that rules and handlers are tested at any
hour; `IGOT_CLOCK_OFFSET_SECONDS` moves a whole process's clock, for end-to-end tests only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime."""
        ...


@dataclass(frozen=True)
class SystemClock:
    offset_seconds: float = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)


@dataclass
class FixedClock:
    """A clock that says what it is set to: for tests of the rules and handlers."""

    at: datetime

    def now(self) -> datetime:
        return self.at
