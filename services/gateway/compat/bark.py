"""Bark: `POST /push` with `device_key` (an iGot push key), `title`, `body` and Bark's options.

Field names are read case-insensitively, as Bark does. `body` is the content (Bark's newer `markdown`
replaces it, stored as Markdown); without either, the `subtitle` or else the `title` is. `url` and `copy`
are iGot's fields of the same names; `autoCopy` is `automaticallyCopy`, on only when it is 1, as in Bark
(where copying is otherwise left to the user). Bark's other options (`subtitle`, `group`, `level`,
`sound`, `icon`, `badge`, `isArchive`, `call`, `volume`, `image`, `ciphertext`, …) are kept as `extra`.
`device_keys` (a JSON array, or keys separated by commas) sends one message per key, at most
`IGOT_DROPIN_MAX_KEYS`.

Answers keep Bark's shape: `{"code": 200, "message": "success", "timestamp": <epoch seconds>}`; a
refusal has the HTTP status native ingress would give it, repeated as `code`, with the reason as
`message`. A `device_keys` send answers HTTP 200 with one `{"code", "device_key", "message"?}` per key in
`data`, as Bark does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.compat.fields import headed, push_keys, text_of, without
from services.gateway.push_fields import EVERY_FORMAT, parse_push
from shared.envelope import ApiError, invalid
from shared.ids import now_ms
from shared.models import PushRequest

# Bark's fields iGot reads itself, by their lower-case names.
READ = ("device_key", "device_keys", "title", "body", "markdown", "url", "copy", "autocopy")


def _read(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bark's fields iGot reads (by lower-case name; the first of several spellings wins), and the rest."""
    known: dict[str, Any] = {}
    spelled: list[str] = []
    for name, value in fields.items():
        lowered = name.lower()
        if lowered in READ:
            spelled.append(name)
            known.setdefault(lowered, value)
    return known, without(fields, spelled)


def read_keys(fields: Mapping[str, Any], *, most: int) -> tuple[list[str], bool]:
    """The push keys, and whether the sender named several (`device_keys`, answered per key)."""
    known, _ = _read(fields)
    if known.get("device_keys") is not None:
        return push_keys(known["device_keys"], name="device_keys", most=most), True
    key = text_of(known, "device_key")
    if key is None or not key.strip():
        raise invalid("device key is empty")
    return [key.strip()], False


def read_push(fields: Mapping[str, Any], *, idempotency_header: str | None) -> PushRequest:
    known, native = _read(fields)
    title = text_of(known, "title") or ""
    markdown = text_of(known, "markdown") or ""
    body = markdown if markdown.strip() else text_of(known, "body") or ""
    if not body.strip():
        body = text_of(native, "subtitle") or ""
    message = headed(title, body)
    if not message:
        raise invalid("body is empty")
    native.update(message, format="markdown" if markdown.strip() else "text")
    for name in ("url", "copy"):
        value = known.get(name)
        if value is not None:
            native[name] = value
    native["automaticallyCopy"] = 1 if known.get("autocopy") in (1, "1") else 0
    return parse_push(native, idempotency_header=idempotency_header, formats=EVERY_FORMAT)


def accepted() -> dict[str, Any]:
    return {"code": 200, "message": "success", "timestamp": _timestamp()}


def accepted_each(keys: list[str], outcomes: list[str | ApiError]) -> dict[str, Any]:
    results = []
    for key, outcome in zip(keys, outcomes, strict=True):
        if isinstance(outcome, ApiError):
            results.append({"code": outcome.http_status, "device_key": key, "message": outcome.reason})
        else:
            results.append({"code": 200, "device_key": key})
    return {**accepted(), "data": results}


def refused(error: ApiError) -> dict[str, Any]:
    return {"code": error.http_status, "message": error.reason, "timestamp": _timestamp()}


def _timestamp() -> int:
    return now_ms() // 1000
