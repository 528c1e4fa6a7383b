"""Quiet hours and read escalation in the OpenAPI document (`/open/push-way/quiet-hours`, `/escalation`)."""

from __future__ import annotations

from typing import Any

from igot.openapi.pieces import JSON, Operation
from igot.openapi.push_ways import push_way_operation
from igot.openapi.schemas import Schema, obj, ref, success_or_refusal, text

CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
EVERY_RET = "HTTP 200 for every `ret`, as existing clients expect"
TIME_OF_DAY = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"
MAX_MINUTES = 1440


def delivery_preference_schemas() -> dict[str, Schema]:
    nullable_time = {"type": ["string", "null"], "pattern": TIME_OF_DAY}
    stored = obj(
        {
            "start": {**nullable_time, "description": "local time quiet hours begin; null: never set"},
            "end": {**nullable_time, "description": "local time they end (earlier than start: next day)"},
            "timezone": {"type": ["string", "null"], "description": "IANA time zone, e.g. Asia/Shanghai"},
            "enabled": {"type": "boolean"},
        },
        required=("start", "end", "timezone", "enabled"),
    )
    flag: Schema = {"enum": [True, False, 0, 1, "0", "1", "true", "false"]}
    minutes: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_MINUTES}
    return {
        "QuietHours": success_or_refusal(stored),
        "QuietHoursBody": obj(
            {
                "start": text("HH:MM or HH:MM:SS, 24-hour clock", pattern=TIME_OF_DAY),
                "end": text("HH:MM or HH:MM:SS; must differ from start", pattern=TIME_OF_DAY),
                "timezone": text("IANA time zone name", maxLength=64),
                "enabled": {**flag, "description": "default true; false alone switches them off"},
            },
            closed=False,
        ),
        "Escalation": success_or_refusal(obj({"minutes": minutes}, required=("minutes",))),
        "EscalationBody": obj(
            {"minutes": {**minutes, "description": "0 switches read escalation off"}},
            required=("minutes",),
            closed=False,
        ),
    }


def _body(schema: str) -> dict[str, Any]:
    return {
        "required": False,
        "content": {
            JSON: {"schema": ref(schema)},
            "application/x-www-form-urlencoded": {"schema": ref(schema)},
        },
    }


def delivery_preference_operations() -> list[Operation]:
    return [
        push_way_operation(
            "get",
            "/open/push-way/quiet-hours",
            "getQuietHours",
            "The quiet hours: while they last, strong messages reach the inbox at once and their push ways "
            "when they end (a push with `level=critical` is not held).",
            "QuietHours",
        ),
        push_way_operation(
            "post",
            "/open/push-way/quiet-hours",
            "setQuietHours",
            "Set the quiet hours (bad times, an unknown zone or start = end: ret 202); answers them.",
            "QuietHours",
            body=_body("QuietHoursBody"),
        ),
        push_way_operation(
            "get",
            "/open/push-way/escalation",
            "getEscalation",
            "The read-escalation delay: a message delivered on a way and unread this many minutes later "
            "is delivered on the next verified way too, one way per step; 0 is off.",
            "Escalation",
        ),
        push_way_operation(
            "post",
            "/open/push-way/escalation",
            "setEscalation",
            f"Set the read-escalation delay, 0 to {MAX_MINUTES} minutes (else ret 202); answers it.",
            "Escalation",
            body=_body("EscalationBody"),
        ),
    ]
