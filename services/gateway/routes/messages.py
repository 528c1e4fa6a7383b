"""Client API over the inbox: list, detail (marks read), mark read.

Opening a message marks it read, so its detail refuses HEAD (405) instead of the HEAD aiohttp adds to a
GET route: a HEAD must change nothing. Paging numbers are plain ASCII digits (no `+`, `_`, other
scripts' digits) and bounded, so the store's 64-bit skip never overflows.
"""

from __future__ import annotations

import re

from aiohttp import web

from services.gateway.inbox_view import detail_for_user, page_for_user
from shared.data import inbox
from shared.envelope import invalid, not_found
from shared.http_json import json_envelope
from shared.sessions import authenticate
from shared.web import STORE, token_of

routes = web.RouteTableDef()

MAX_PAGE_SIZE = 50
# The last page whose skip, `(index - 1) * size`, still fits a signed 64-bit integer at the largest size.
MAX_PAGE_INDEX = (2**63 - 1) // MAX_PAGE_SIZE
ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def _page_number(request: web.Request, name: str, *, default: int, largest: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    # `int()` would also take "+2", "1_000", " 3" and digits of other scripts: clients must send plain digits.
    if not ASCII_DIGITS.fullmatch(raw):
        raise invalid(f"{name} must be a whole number between 1 and {largest}")
    value = int(raw)
    if not 1 <= value <= largest:
        raise invalid(f"{name} must be a whole number between 1 and {largest}")
    return value


@routes.get("/open/message/")
@routes.get("/open/message")
async def list_messages(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    index = _page_number(request, "index", default=1, largest=MAX_PAGE_INDEX)
    size = _page_number(request, "size", default=20, largest=MAX_PAGE_SIZE)
    shown, count = await page_for_user(store, user_id, skip=(index - 1) * size, limit=size)
    return json_envelope({"messages": shown, "count": count})


@routes.get("/open/message/{id}", allow_head=False)
async def message_detail(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    shown = await detail_for_user(store, user_id, request.match_info["id"])
    if shown is None:
        raise not_found("no such message")
    return json_envelope({"message": shown})


@routes.post("/open/message/{id}")
async def mark_read(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    if not await inbox.mark_read(store, user_id, request.match_info["id"]):
        raise not_found("no such message")
    return json_envelope()
