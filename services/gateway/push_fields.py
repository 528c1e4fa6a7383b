"""The fields of a push, from whatever the sender used (path, query, JSON, form), checked once.

Rules from the seed: `content` is required; `automaticallyCopy` is 0/1 and defaults to 1; `copy` is
stored as `copyText`; `topic` labels group-link messages; every other field is kept as `extra` and shown to
the receiver as debug JSON. Keys beginning with `$` are refused anywhere in the payload: they are never
meaningful to us and only ever appear in attempts to smuggle query operators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.envelope import invalid
from shared.messages.push import MessageBody
from shared.models import PushRequest

MAX_TITLE = 256
MAX_URL = 2048
MAX_TOPIC = 64
MAX_IDEMPOTENCY_KEY = 128
MAX_DEPTH = 16
KNOWN = {"title", "content", "url", "automaticallyCopy", "copy", "copyText", "topic", "idempotencyKey"}


def parse_push(fields: Mapping[str, Any], *, idempotency_header: str | None = None) -> PushRequest:
    _refuse_operator_keys(fields, depth=0)
    content = _text(fields, "content")
    if not content or not content.strip():
        raise invalid("content is required")
    title = _text(fields, "title") or ""
    if len(title) > MAX_TITLE:
        raise invalid(f"title is longer than {MAX_TITLE} characters")
    url = _text(fields, "url") or ""
    if url:
        _check_url(url)
    copy_text = _text(fields, "copy")
    if copy_text is None:
        copy_text = _text(fields, "copyText") or ""
    topic = _text(fields, "topic") or None
    if topic is not None and len(topic) > MAX_TOPIC:
        raise invalid(f"topic is longer than {MAX_TOPIC} characters")
    idempotency_key = idempotency_header or _text(fields, "idempotencyKey") or None
    if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise invalid(f"idempotency key is longer than {MAX_IDEMPOTENCY_KEY} characters")
    extra = {name: value for name, value in fields.items() if name not in KNOWN}
    return PushRequest(
        body=MessageBody(
            title=title,
            content=content,
            url=url,
            automaticallyCopy=_copy_flag(fields.get("automaticallyCopy", 1)),
            copyText=copy_text,
        ),
        topic=topic,
        extra=json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else None,
        idempotency_key=idempotency_key,
    )


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    """Text fields accept strings and numbers (scripts often send `"content": 42`), nothing else."""
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid(f"{name} must be text")
    return value if isinstance(value, str) else str(value)


def _copy_flag(value: Any) -> int:
    if value in (0, 1, "0", "1") and not isinstance(value, float):
        return int(value)
    if value is True or value is False:
        return int(value)
    raise invalid("automaticallyCopy must be 0 or 1")


def _check_url(url: str) -> None:
    if len(url) > MAX_URL:
        raise invalid(f"url is longer than {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("url must be an http or https address")


def _refuse_operator_keys(value: Any, *, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise invalid(f"payload nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$"):
                raise invalid(f"field name {key!r} is not allowed")
            _refuse_operator_keys(item, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            _refuse_operator_keys(item, depth=depth + 1)
