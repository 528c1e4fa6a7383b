"""Client API over the inbox: list, detail (marks read), mark read, delete one, complain about one.

Opening a message marks it read, so its detail refuses HEAD (405) instead of the HEAD aiohttp adds to a
GET route: a HEAD must change nothing. Paging numbers are read by `shared.paging`.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.complaints import ComplaintPolicy, file_complaint
from services.gateway.desktop_client import for_desktop_client, is_desktop_client
from services.gateway.inbox_view import (
    delete_for_user,
    detail_for_user,
    moderation_refusal,
    page_for_user,
)
from shared.data import inbox
from shared.envelope import not_found
from shared.http_json import body_fields, json_envelope, url_fields
from shared.paging import MAX_PAGE_INDEX, MAX_PAGE_SIZE, page_number
from shared.sessions import authenticate
from shared.web import BUS, SETTINGS, STORE, token_of

routes = web.RouteTableDef()


@routes.get("/open/message/")
@routes.get("/open/message")
async def list_messages(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    index = page_number(request, "index", default=1, largest=MAX_PAGE_INDEX)
    size = page_number(request, "size", default=20, largest=MAX_PAGE_SIZE)
    shown, count = await page_for_user(store, user_id, skip=(index - 1) * size, limit=size)
    return json_envelope({"messages": shown, "count": count})


@routes.get("/open/message/{id}", allow_head=False)
async def message_detail(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    shown = await detail_for_user(store, user_id, request.match_info["id"])
    if shown is None:
        raise not_found("no such message")
    if is_desktop_client(request):
        shown = for_desktop_client(shown)
    refusal = moderation_refusal(shown)
    if refusal is not None:  # the sender's push moderation rejected: 206, the message still shown
        return json_envelope({"message": shown}, ret=refusal.ret, err_msg=refusal.reason)
    return json_envelope({"message": shown})


@routes.post("/open/message/{id}")
async def mark_read(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    if not await inbox.mark_read(store, user_id, request.match_info["id"]):
        raise not_found("no such message")
    return json_envelope()


@routes.post("/open/message/delete/{id}")
async def delete_message(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    if not await delete_for_user(store, user_id, request.match_info["id"]):
        raise not_found("no such message")
    return json_envelope()


@routes.post("/open/message/{id}/complaint")
async def complain(request: web.Request) -> web.Response:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    # `reason` from the query, a form or JSON, as the other /open/ routes read their fields.
    fields = url_fields(request)
    fields.update(await body_fields(request))
    settings = request.app[SETTINGS]
    policy = ComplaintPolicy(
        complaints_to_pause=settings.moderation_complaints_to_pause,
        window_hours=settings.moderation_complaint_window_hours,
    )
    await file_complaint(
        store, request.app[BUS], policy, user_id, request.match_info["id"], fields.get("reason")
    )
    return json_envelope()
