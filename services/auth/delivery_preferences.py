"""A user's delivery preferences: quiet hours and read escalation, checked here, read by the dispatcher.

Quiet hours are `{start, end, timezone, enabled}`: `start` and `end` on a 24-hour clock (`HH:MM`, or
`HH:MM:SS`), different from each other (an end earlier than the start crosses midnight), `timezone` an
IANA zone name (`Asia/Shanghai`). `enabled` false keeps the times but holds nothing; switching them off
needs no times. The escalation delay is whole minutes from 0 (off) to `MAX_ESCALATION_MINUTES`.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.data import delivery_preferences
from shared.data.delivery_preferences import QuietHours, parse_time_of_day
from shared.envelope import invalid
from shared.store import Store

MAX_ESCALATION_MINUTES = 1440
# IANA names: letters, digits, `_`, `-`, `+` and `/`-separated parts, never a path out of the zone tree.
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9][A-Za-z0-9_+\-]*){0,2}$")
MAX_ZONE_NAME = 64


async def quiet_hours(store: Store, user_id: str) -> dict[str, Any]:
    stored = delivery_preferences.quiet_hours_of(await delivery_preferences.get_for_user(store, user_id))
    if stored is None:
        return {"start": None, "end": None, "timezone": None, "enabled": False}
    return stored.as_document()


async def set_quiet_hours(store: Store, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Checks everything before anything is written; answers what is stored now."""
    enabled = _flag(fields.get("enabled", True))
    if not enabled and all(fields.get(name) in (None, "") for name in ("start", "end", "timezone")):
        current = delivery_preferences.quiet_hours_of(await delivery_preferences.get_for_user(store, user_id))
        if current is None:
            return await quiet_hours(store, user_id)
        chosen = QuietHours(current.start, current.end, current.timezone, enabled=False)
    else:
        start, end = _clock_time(fields, "start"), _clock_time(fields, "end")
        if parse_time_of_day(start) == parse_time_of_day(end):
            raise invalid("start and end must differ")
        chosen = QuietHours(start, end, _zone(fields.get("timezone")), enabled=enabled)
    await delivery_preferences.set_quiet_hours(store, user_id, chosen)
    return chosen.as_document()


async def escalation(store: Store, user_id: str) -> dict[str, Any]:
    doc = await delivery_preferences.get_for_user(store, user_id)
    return {"minutes": delivery_preferences.escalation_minutes_of(doc)}


async def set_escalation(store: Store, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    minutes = _minutes(fields.get("minutes"))
    await delivery_preferences.set_escalation_minutes(store, user_id, minutes)
    return {"minutes": minutes}


def _flag(value: Any) -> bool:
    # Exactly a JSON boolean, 0/1, or their text: nothing a lenient parser would guess at.
    if isinstance(value, bool):
        return value
    if (type(value) is int and value in (0, 1)) or value in ("0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise invalid("enabled must be true or false")


def _clock_time(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or parse_time_of_day(value) is None:
        raise invalid(f"{name} must be a time of day, HH:MM or HH:MM:SS (24-hour clock)")
    return value


def _zone(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_ZONE_NAME or not _ZONE_NAME.match(value):
        raise invalid("timezone must be an IANA time zone name, such as Asia/Shanghai")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise invalid(f"unknown time zone {value!r}") from error
    return value


def _minutes(value: Any) -> int:
    if type(value) is int:
        minutes = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        minutes = int(value)
    else:
        raise invalid(f"minutes must be a whole number from 0 to {MAX_ESCALATION_MINUTES}")
    if not 0 <= minutes <= MAX_ESCALATION_MINUTES:
        raise invalid(f"minutes must be a whole number from 0 to {MAX_ESCALATION_MINUTES}")
    return minutes
