"""What the desktop client (Electron-iGot) needs of a message detail to show it safely.

The client puts a message's content into its page as HTML (`v-html`), in a window with Node integration:
a pushed `<img onerror=…>` would run with the user's rights, and anyone holding a key — a temporary link
handed to a stranger — could send one. So for this client the detail's content is HTML-escaped; it shows
as the text that was sent. The client also highlights the copy text by building a regular expression from
it, so that text is escaped the same way and then as a pattern: it matches itself literally in the
escaped content, and a `(` in it no longer breaks the page.

The client is recognised by its page's origin (`file://`, or `null` where the engine hides it) or its
`Electron/` user agent; other clients get the message as stored.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from aiohttp import web

DESKTOP_ORIGINS = frozenset({"file://", "null"})


def is_desktop_client(request: web.Request) -> bool:
    return request.headers.get("Origin") in DESKTOP_ORIGINS or "Electron/" in request.headers.get(
        "User-Agent", ""
    )


def for_desktop_client(shown: dict[str, Any]) -> dict[str, Any]:
    """A copy of a rendered message whose body the client can put into HTML as it does."""
    body = dict(shown.get("body", {}))
    body["content"] = escape(str(body.get("content", "")))
    body["copyText"] = re.escape(escape(str(body.get("copyText", ""))))
    return {**shown, "body": body}
