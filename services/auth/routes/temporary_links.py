"""The temporary-link API (`/open/link/temporary`): create, list, pause, resume, rename, delete, QR code.

Every route takes the owner's token; the QR code's too, in `?token=`, since an `<img src>` can send
nothing else. The QR code is a PNG, never cached; its refusals are envelopes like every `/open/` answer.
Listing and the QR code change nothing, so neither takes HEAD.
"""

from __future__ import annotations

from aiohttp import web

from services.auth.temporary_links import TemporaryLinks
from shared.http_json import body_fields, json_envelope
from shared.paging import MAX_PAGE_INDEX, MAX_PAGE_SIZE, page_number
from shared.sessions import authenticate
from shared.timefmt import iso_ms
from shared.web import STORE, token_of

routes = web.RouteTableDef()
TEMPORARY_LINKS = web.AppKey("auth.temporary_links", TemporaryLinks)


async def _user(request: web.Request) -> str:
    return await authenticate(request.app[STORE], token_of(request))


@routes.post("/open/link/temporary")
async def create_link(request: web.Request) -> web.Response:
    user_id = await _user(request)
    name = (await body_fields(request)).get("name")
    created = await request.app[TEMPORARY_LINKS].create(user_id, name)
    return json_envelope({"key": created.key, "expireAt": iso_ms(created.expires_at)})


@routes.get("/open/link/temporary", allow_head=False)
async def list_links(request: web.Request) -> web.Response:
    user_id = await _user(request)
    index = page_number(request, "index", default=1, largest=MAX_PAGE_INDEX)
    size = page_number(request, "size", default=20, largest=MAX_PAGE_SIZE)
    links, count = await request.app[TEMPORARY_LINKS].page(user_id, skip=(index - 1) * size, limit=size)
    return json_envelope({"links": links, "count": count})


@routes.post("/open/link/temporary/{key}/pause")
async def pause_link(request: web.Request) -> web.Response:
    await request.app[TEMPORARY_LINKS].pause(await _user(request), request.match_info["key"])
    return json_envelope()


@routes.post("/open/link/temporary/{key}/resume")
async def resume_link(request: web.Request) -> web.Response:
    await request.app[TEMPORARY_LINKS].resume(await _user(request), request.match_info["key"])
    return json_envelope()


@routes.post("/open/link/temporary/{key}/delete")
async def delete_link(request: web.Request) -> web.Response:
    await request.app[TEMPORARY_LINKS].delete(await _user(request), request.match_info["key"])
    return json_envelope()


@routes.post("/open/link/temporary/{key}/rename")
async def rename_link(request: web.Request) -> web.Response:
    user_id = await _user(request)
    name = (await body_fields(request)).get("name")
    await request.app[TEMPORARY_LINKS].rename(user_id, request.match_info["key"], name)
    return json_envelope()


@routes.get("/open/link/temporary/{key}/qr.png", allow_head=False)
async def link_qr_code(request: web.Request) -> web.Response:
    user_id = await _user(request)
    png = await request.app[TEMPORARY_LINKS].qr_code(user_id, request.match_info["key"])
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})
