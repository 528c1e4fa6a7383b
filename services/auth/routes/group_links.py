"""The group-link API (`/open/link/group`) for creators and the market, and the public subscribe page.

Every `/open/` route takes a token. The subscribe page `/s/{id}` and its QR code `/s/{id}/qr.png` are
public: people open them from a shared link or a scanned code, signed in or not. The page is small HTML
with real HTTP statuses (as the verification pages): no script, nothing loaded but its own QR code, no
referrer, not cached. None of them ever shows a push key. Listings change nothing, so none takes HEAD.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from services.auth.group_links import GroupLinks, subscribe_page_url
from services.auth.routes.verify import PAGE_POLICY, html_page
from shared.envelope import ApiError
from shared.http_json import body_fields, json_envelope
from shared.paging import MAX_PAGE_INDEX, MAX_PAGE_SIZE, page_number
from shared.sessions import authenticate
from shared.web import SETTINGS, STORE, token_of

routes = web.RouteTableDef()
GROUP_LINKS = web.AppKey("auth.group_links", GroupLinks)

SUBSCRIBE_PAGE_POLICY = f"{PAGE_POLICY}; img-src 'self'"
_STYLE = "img{display:block;margin:1em auto;width:240px;height:240px}code{word-break:break-all}"


async def _user(request: web.Request) -> str:
    return await authenticate(request.app[STORE], token_of(request))


def _page(request: web.Request) -> tuple[int, int]:
    index = page_number(request, "index", default=1, largest=MAX_PAGE_INDEX)
    size = page_number(request, "size", default=20, largest=MAX_PAGE_SIZE)
    return (index - 1) * size, size


@routes.post("/open/link/group")
async def create_link(request: web.Request) -> web.Response:
    user_id = await _user(request)
    fields = await body_fields(request)
    key, link_id = await request.app[GROUP_LINKS].create(user_id, fields.get("name"), fields.get("open"))
    return json_envelope({"key": key, "id": link_id})


@routes.get("/open/link/group", allow_head=False)
async def list_links(request: web.Request) -> web.Response:
    user_id = await _user(request)
    skip, limit = _page(request)
    links, count = await request.app[GROUP_LINKS].page(user_id, skip=skip, limit=limit)
    return json_envelope({"links": links, "count": count})


@routes.get("/open/link/group/market", allow_head=False)
async def market(request: web.Request) -> web.Response:
    await _user(request)
    skip, limit = _page(request)
    links, count = await request.app[GROUP_LINKS].market(skip=skip, limit=limit)
    return json_envelope({"links": links, "count": count})


@routes.get("/open/link/group/{key}/subscribers", allow_head=False)
async def subscribers(request: web.Request) -> web.Response:
    user_id = await _user(request)
    skip, limit = _page(request)
    found, count = await request.app[GROUP_LINKS].subscribers(
        user_id, request.match_info["key"], skip=skip, limit=limit
    )
    return json_envelope({"subscribers": found, "count": count})


@routes.get("/open/link/group/{key}/topics", allow_head=False)
async def topics(request: web.Request) -> web.Response:
    user_id = await _user(request)
    return json_envelope(
        {"topics": await request.app[GROUP_LINKS].topics(user_id, request.match_info["key"])}
    )


@routes.post("/open/link/group/{key}/topics/rename")
async def rename_topic(request: web.Request) -> web.Response:
    user_id = await _user(request)
    fields = await body_fields(request)
    await request.app[GROUP_LINKS].rename_topic(
        user_id, request.match_info["key"], fields.get("name"), fields.get("to")
    )
    return json_envelope()


@routes.post("/open/link/group/{key}/topics/delete")
async def delete_topic(request: web.Request) -> web.Response:
    user_id = await _user(request)
    name = (await body_fields(request)).get("name")
    await request.app[GROUP_LINKS].delete_topic(user_id, request.match_info["key"], name)
    return json_envelope()


@routes.post("/open/link/group/{key}/rename")
async def rename_link(request: web.Request) -> web.Response:
    user_id = await _user(request)
    name = (await body_fields(request)).get("name")
    await request.app[GROUP_LINKS].rename(user_id, request.match_info["key"], name)
    return json_envelope()


@routes.post("/open/link/group/{key}/close")
async def close_link(request: web.Request) -> web.Response:
    await request.app[GROUP_LINKS].close(await _user(request), request.match_info["key"])
    return json_envelope()


@routes.post("/open/link/group/{key}/delete")
async def delete_link(request: web.Request) -> web.Response:
    await request.app[GROUP_LINKS].delete(await _user(request), request.match_info["key"])
    return json_envelope()


def _html(status: int, title: str, body: str) -> web.Response:
    return html_page(status, title, body, policy=SUBSCRIBE_PAGE_POLICY, style=_STYLE)


@routes.get("/s/{id}", allow_head=False)
async def subscribe_page(request: web.Request) -> web.Response:
    link_id = request.match_info["id"]
    try:
        link, count = await request.app[GROUP_LINKS].public(link_id)
    except ApiError:
        return _html(404, "Unknown link", "<p>No subscription link has this address: it may be deleted.</p>")
    public_url = request.app[SETTINGS].public_url.rstrip("/")
    if link.status != "active":
        return _html(410, link.name, "<p>This subscription link is closed: it takes no new subscribers.</p>")
    noun = "subscriber" if count == 1 else "subscribers"
    call = f"POST {escape(public_url)}/open/subscription/{link.link_id}?token=&lt;token&gt;"
    body = (
        f"<p>A subscription link on iGot, with {count} {noun}. Every message its creator sends reaches "
        "each subscriber, on their push ways (strong reminder) or in their inbox only (weak).</p>"
        f'<img src="/s/{escape(link.link_id)}/qr.png" alt="QR code of this page">'
        "<p>To subscribe, scan this code in an iGot client, or call the client API signed in:</p>"
        f"<p><code>{call}</code> with <code>{{&quot;strong&quot;: true, &quot;topics&quot;: []}}</code> "
        "(no topics: every topic).</p>"
        f"<p>Subscribe id: <code>{escape(link.link_id)}</code>. Page: "
        f"<code>{escape(subscribe_page_url(public_url, link.link_id))}</code></p>"
    )
    return _html(200, link.name, body)


@routes.get("/s/{id}/qr.png", allow_head=False)
async def subscribe_qr_code(request: web.Request) -> web.Response:
    png = await request.app[GROUP_LINKS].qr_code(request.match_info["id"])
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})
