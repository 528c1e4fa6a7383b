"""An inbox entry as the client API shows it: the seed's message shape, plus delivery status in detail."""

from __future__ import annotations

import json
from typing import Any

from shared.store import Document
from shared.timefmt import iso_ms

BODY_FIELDS = ("title", "content", "url", "automaticallyCopy", "copyText")


def render(entry: Document, *, with_delivery: bool = False) -> dict[str, Any]:
    body = entry.get("body", {})
    shown: dict[str, Any] = {
        "id": entry["_id"],
        "body": {name: body.get(name, "" if name != "automaticallyCopy" else 1) for name in BODY_FIELDS},
        "mode": entry.get("mode", "inbox"),
        "read": bool(entry.get("read", False)),
        "app": entry.get("app", "iGot"),
        "createTime": iso_ms(entry["createdAt"]),
    }
    for name in ("source", "topic"):
        if entry.get(name):
            shown[name] = entry[name]
    if entry.get("extra"):
        shown["extra"] = json.loads(entry["extra"])
    if with_delivery:
        shown["delivery"] = {
            "status": entry.get("status", "pending"),
            "attempts": [{**attempt, "at": iso_ms(attempt["at"])} for attempt in entry.get("attempts", [])],
        }
    return shown
