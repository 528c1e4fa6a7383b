"""Delivery preferences of a user: quiet hours and read escalation (owned by auth; read by the dispatcher).

One document per user: `{_id: <user id>, quietHours: {start: "HH:MM[:SS]", end, timezone: <IANA zone>,
enabled}, escalationMinutes}`. Both are optional: no document, or no field, means no quiet hours and no
escalation. Kept apart from the push ways, which are written by binding flows, so neither write touches
the other's fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from shared.store import Document, Store

COLLECTION = "delivery_preferences"
_CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?\Z")


def parse_time_of_day(text: str) -> time | None:
    """`HH:MM` or `HH:MM:SS` on a 24-hour clock; None for anything else."""
    match = _CLOCK_TIME.match(text)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return time(int(hours), int(minutes), int(seconds or 0))


@dataclass(frozen=True)
class QuietHours:
    start: str  # "HH:MM" or "HH:MM:SS", local time in `timezone`
    end: str
    timezone: str
    enabled: bool = True

    def as_document(self) -> Document:
        return {"start": self.start, "end": self.end, "timezone": self.timezone, "enabled": self.enabled}


async def get_for_user(store: Store, user_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": user_id})


def quiet_hours_of(doc: Document | None) -> QuietHours | None:
    """The stored quiet hours, whether enabled or not; None when never set or unreadable."""
    value = (doc or {}).get("quietHours")
    if not isinstance(value, dict):
        return None
    start, end, zone = value.get("start"), value.get("end"), value.get("timezone")
    if not (isinstance(start, str) and isinstance(end, str) and isinstance(zone, str)):
        return None
    return QuietHours(start, end, zone, enabled=value.get("enabled") is True)


def escalation_minutes_of(doc: Document | None) -> int:
    value = (doc or {}).get("escalationMinutes")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


async def set_quiet_hours(store: Store, user_id: str, quiet_hours: QuietHours) -> None:
    await store.collection(COLLECTION).update_one(
        {"_id": user_id}, {"$set": {"quietHours": quiet_hours.as_document()}}, upsert=True
    )


async def set_escalation_minutes(store: Store, user_id: str, minutes: int) -> None:
    await store.collection(COLLECTION).update_one(
        {"_id": user_id}, {"$set": {"escalationMinutes": minutes}}, upsert=True
    )


async def delete_for_user(store: Store, user_id: str) -> int:
    """Gone with the account."""
    return await store.collection(COLLECTION).delete_many({"_id": user_id})
