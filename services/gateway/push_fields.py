"""The fields of a push, from whatever the sender used (path, query, JSON, form), checked once.

Rules from the seed: `content` is required; `automaticallyCopy` is 0/1 and defaults to 1; `copy` is
stored as `copyText`; `topic` labels group-link messages; every other field is kept as `extra` and shown to
the receiver as debug JSON. `format` says how clients show the content: `text` (the default) or
`markdown`; the drop-in dialects (`services.gateway.compat`) may also set `image`. `level` is one of
Bark's levels (`active`, `timeSensitive`, `passive`, `critical`): a `critical` push is delivered during
the recipient's quiet hours too; the level is stored with the message. Keys beginning with
`$` are refused anywhere in the payload: they are never meaningful to us and only ever appear in attempts
to smuggle query operators. Values nest at most `MAX_DEPTH` levels, numbers are finite, and text holds no
lone surrogates, whichever way the fields came.

Numbers and flags are strict: `automaticallyCopy` is exactly 0 or 1, as a JSON integer or the text "0" or
"1" — never `true`/`false`, `1.0`, `+1`, `1_000` or non-ASCII digits, which lenient parsers would read as
something the sender may not have meant.

Control characters (C0, DEL, C1) are refused where a field can reach a header, a Bark request or an
e-mail subject, since a line break there splits one field into two: `url`, `topic` and the idempotency key
hold none at all, nor the Unicode line and paragraph separators; `title` and `copy` may hold a TAB and
nothing else. `content` is a multi-line message: it may hold TAB, LF and CR, and no other control
character (NUL least of all: no store or client keeps it intact).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.envelope import invalid
from shared.http_json import MAX_DEPTH, dumps
from shared.messages.push import BodyFormat, MessageBody
from shared.models import PushRequest

MAX_TITLE = 256
MAX_URL = 2048
MAX_TOPIC = 64
MAX_IDEMPOTENCY_KEY = 128
KNOWN = {
    "title",
    "content",
    "url",
    "automaticallyCopy",
    "copy",
    "copyText",
    "topic",
    "idempotencyKey",
    "format",
    "level",
}
# Bark's notification levels; `critical` also passes the recipient's quiet hours.
LEVELS = ("active", "timeSensitive", "passive", "critical")
NATIVE_FORMATS: tuple[BodyFormat, ...] = ("text", "markdown")
EVERY_FORMAT: tuple[BodyFormat, ...] = ("text", "markdown", "image")

_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SINGLE_LINE_WITH_TAB = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_push(
    fields: Mapping[str, Any],
    *,
    idempotency_header: str | None = None,
    formats: tuple[BodyFormat, ...] = NATIVE_FORMATS,
) -> PushRequest:
    """The push the fields describe; `formats` are the values `format` may take."""
    _check_nested(fields, level=1)
    content = _text(fields, "content", _MULTI_LINE)
    if not content or not content.strip():
        raise invalid("content is required")
    title = _text(fields, "title", _SINGLE_LINE_WITH_TAB) or ""
    if len(title) > MAX_TITLE:
        raise invalid(f"title is longer than {MAX_TITLE} characters")
    url = _text(fields, "url", _SINGLE_LINE) or ""
    if url:
        _check_url(url)
    copy_text = _text(fields, "copy", _SINGLE_LINE_WITH_TAB)
    if copy_text is None:
        copy_text = _text(fields, "copyText", _SINGLE_LINE_WITH_TAB) or ""
    topic = _text(fields, "topic", _SINGLE_LINE) or None
    if topic is not None and len(topic) > MAX_TOPIC:
        raise invalid(f"topic is longer than {MAX_TOPIC} characters")
    idempotency_key = idempotency_header or _text(fields, "idempotencyKey", _SINGLE_LINE) or None
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
    extra = {name: value for name, value in fields.items() if name not in KNOWN}
    return PushRequest(
        body=MessageBody(
            title=title,
            content=content,
            url=url,
            automaticallyCopy=_copy_flag(fields.get("automaticallyCopy", 1)),
            copyText=copy_text,
            format=_format(fields, formats),
        ),
        topic=topic,
        extra=dumps(extra) if extra else None,
        idempotency_key=idempotency_key,
        level=_level(fields),
    )


def _level(fields: Mapping[str, Any]) -> str | None:
    value = fields.get("level")
    if value is None or value == "":
        return None
    if value not in LEVELS:
        raise invalid(f"level must be one of: {', '.join(LEVELS)}")
    return str(value)


def _text(fields: Mapping[str, Any], name: str, forbidden: re.Pattern[str]) -> str | None:
    """Text fields accept strings and numbers (scripts often send `"content": 42`), nothing else."""
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid(f"{name} must be text")
    text = value if isinstance(value, str) else str(value)
    if forbidden.search(text):
        raise invalid(f"{name} must not contain control characters")
    return text


def _format(fields: Mapping[str, Any], formats: tuple[BodyFormat, ...]) -> BodyFormat:
    value = fields.get("format")
    if value is None or value == "":
        return "text"
    for known in formats:
        if value == known:
            return known
    raise invalid(f"format must be one of: {', '.join(formats)}")


def _copy_flag(value: Any) -> int:
    # `type(...) is int` refuses booleans (an int subclass); text compares exactly: no "+1", no other digits.
    if (type(value) is int and value in (0, 1)) or value in ("0", "1"):
        return int(value)
    raise invalid("automaticallyCopy must be 0 or 1")


def _check_url(url: str) -> None:
    if len(url) > MAX_URL:
        raise invalid(f"url is longer than {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("url must be an http or https address")


def _check_idempotency_key(key: str) -> None:
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise invalid(f"idempotency key is longer than {MAX_IDEMPOTENCY_KEY} characters")
    if _SINGLE_LINE.search(key) or _SURROGATE.search(key):
        raise invalid("idempotency key must not contain control characters")


def _check_nested(value: Any, *, level: int) -> None:
    """Operator keys, nesting, non-finite numbers and lone surrogates, anywhere in the payload.

    `level` counts objects and arrays as a JSON body's parser does, the fields themselves being level 1.
    """
    if isinstance(value, Mapping | list) and level > MAX_DEPTH:
        raise invalid(f"payload nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            raise invalid("text holds a lone surrogate, which is not a character")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise invalid("numbers must be finite")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$"):
                raise invalid(f"field name {key!r} is not allowed")
            _check_nested(key, level=level)
            _check_nested(item, level=level + 1)
    elif isinstance(value, list):
        for item in value:
            _check_nested(item, level=level + 1)
