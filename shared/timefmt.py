"""Times are stored as epoch milliseconds and shown as the seed API shows them."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(epoch_ms: int) -> str:
    """`2019-11-29T08:44:43.430Z`: UTC, millisecond precision, a literal Z."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
