"""Client API over the inbox: list, detail (marks read), mark read."""

from __future__ import annotations

from aiohttp import web

from services.gateway.inbox_view import detail_for_user, page_for_user
from shared.data import inbox
from shared.envelope import invalid, not_found
from shared.http_json import json_envelope
from shared.sessions import authenticate
from shared.web import STORE, token_of

routes = web.RouteTableDef()

MAX_PAGE_SIZE = 50


def _positive_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be a whole number") from None
    if value < 1:
        raise invalid(f"{name} must be at least 1")
    return value


@routes.get("/open/message/")
@routes.get("/open/message")
async def list_messages(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    index = _positive_int(request, "index", 1)
    size = _positive_int(request, "size", 20)
    if size > MAX_PAGE_SIZE:
        raise invalid(f"size must be at most {MAX_PAGE_SIZE}")
    shown, count = await page_for_user(store, user_id, skip=(index - 1) * size, limit=size)
    return json_envelope({"messages": shown, "count": count})


@routes.get("/open/message/{id}")
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
