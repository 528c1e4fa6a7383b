"""What the dialects read alike: text fields, lists of push keys, a title and a body for the inbox."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from services.gateway.push_fields import MAX_TITLE
from shared.envelope import invalid

# Where `str.splitlines` breaks a line: a heading holding any of these is no title.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def text_of(fields: Mapping[str, Any], name: str) -> str | None:
    """A text field (numbers read as text, as scripts send them); None when absent."""
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid(f"{name} must be text")
    return value if isinstance(value, str) else str(value)


def push_keys(value: Any, *, name: str, most: int) -> list[str]:
    """The push keys of `a,b` text or of a JSON array of texts, each once, in order."""
    if isinstance(value, str):
        parts: Iterable[Any] = value.split(",")
    elif isinstance(value, list):
        parts = value
    elif value is None:
        raise invalid(f"{name} is required")
    else:
        raise invalid(f"{name} must be text")
    if not all(isinstance(part, str) for part in parts):
        raise invalid(f"{name} must hold text only")
    keys = list(dict.fromkeys(part.strip() for part in parts if part.strip()))
    if not keys:
        raise invalid(f"{name} is required")
    if len(keys) > most:
        raise invalid(f"at most {most} push keys per request")
    return keys


def headed(heading: str, body: str) -> dict[str, str]:
    """The title and content of a message written as a heading and a body, either possibly empty.

    The heading is the title when it fits one (a single line of at most `MAX_TITLE` characters); a
    longer one opens the content instead, so that what the sender wrote arrives rather than a refusal.
    Only a heading makes a message of the heading alone.
    """
    heading = heading.strip()
    if not body.strip():
        return {"content": heading} if heading else {}
    if not heading:
        return {"content": body}
    if len(heading) > MAX_TITLE or _LINE_BREAK.search(heading):
        return {"content": f"{heading}\n\n{body}"}
    return {"title": heading, "content": body}


def lead_line(markdown: str) -> str:
    """A title for a Markdown text: its first non-blank line without heading marks, cut to fit."""
    for line in markdown.splitlines():
        text = line.strip().lstrip("#").strip()
        if text:
            return text[:MAX_TITLE]
    return ""


def without(fields: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The fields but those named: what the dialect read itself is not kept again as `extra`."""
    dropped = set(names)
    return {name: value for name, value in fields.items() if name not in dropped}
