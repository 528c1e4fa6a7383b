"""The subscription API (`/open/subscription`): subscribe to a group link by its public id, change the
choices, cancel, list. Every route takes the subscriber's token."""

from __future__ import annotations

from aiohttp import web

from services.auth.subscriptions import Subscriptions
from shared.http_json import body_fields, json_envelope
from shared.paging import MAX_PAGE_INDEX, MAX_PAGE_SIZE, page_number
from shared.sessions import authenticate
from shared.web import STORE, token_of

routes = web.RouteTableDef()
SUBSCRIPTIONS = web.AppKey("auth.subscriptions", Subscriptions)


async def _user(request: web.Request) -> str:
    return await authenticate(request.app[STORE], token_of(request))


@routes.get("/open/subscription", allow_head=False)
async def list_subscriptions(request: web.Request) -> web.Response:
    user_id = await _user(request)
    index = page_number(request, "index", default=1, largest=MAX_PAGE_INDEX)
    size = page_number(request, "size", default=20, largest=MAX_PAGE_SIZE)
    found, count = await request.app[SUBSCRIPTIONS].page(user_id, skip=(index - 1) * size, limit=size)
    return json_envelope({"subscriptions": found, "count": count})


@routes.post("/open/subscription/{id}")
async def subscribe(request: web.Request) -> web.Response:
    user_id = await _user(request)
    fields = await body_fields(request)
    shown = await request.app[SUBSCRIPTIONS].subscribe(
        user_id, request.match_info["id"], fields.get("strong"), fields.get("topics")
    )
    return json_envelope(shown)


@routes.post("/open/subscription/{id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    await request.app[SUBSCRIPTIONS].cancel(await _user(request), request.match_info["id"])
    return json_envelope()
