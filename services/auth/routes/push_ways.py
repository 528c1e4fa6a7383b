"""The push-way API (`/open/push-way/`), in the seed's shapes: list, order, bind, unbind, verify again.

`bind`, `verify` take the ways iGot verifies by a link (Bark, e-mail, webhook); `unbind` takes every way.
WeChat binds with `GET /open/push-way/wechat/bind` (`routes.wechat`), a QR code scanned in WeChat.
A webhook's bind answers `{secret}`, the key its requests are signed with, this once and never again.
"""

from __future__ import annotations

from aiohttp import web

from services.auth.push_ways import BINDABLE, PushWays
from shared.data.push_ways import WAYS
from shared.envelope import invalid
from shared.http_json import body_fields, json_envelope
from shared.sessions import authenticate
from shared.web import STORE, token_of

routes = web.RouteTableDef()
PUSH_WAYS = web.AppKey("auth.push_ways", PushWays)


async def _user(request: web.Request) -> str:
    return await authenticate(request.app[STORE], token_of(request))


def _way(request: web.Request, ways: tuple[str, ...]) -> str:
    # Any name routes here, so that an unknown way is answered like every `/open/` refusal: HTTP 200.
    way = request.match_info["way"]
    if way not in ways:
        raise invalid(f"the push way must be one of: {', '.join(ways)}")
    return way


@routes.get("/open/push-way/")
@routes.get("/open/push-way")
async def list_push_ways(request: web.Request) -> web.Response:
    return json_envelope(await request.app[PUSH_WAYS].overview(await _user(request)))


@routes.post("/open/push-way/orders")
async def set_orders(request: web.Request) -> web.Response:
    user_id = await _user(request)
    orders = (await body_fields(request)).get("orders")
    await request.app[PUSH_WAYS].set_orders(user_id, orders)
    return json_envelope()


@routes.post("/open/push-way/{way}/bind")
async def bind(request: web.Request) -> web.Response:
    user_id = await _user(request)
    way = _way(request, BINDABLE)
    key = (await body_fields(request)).get("key")
    shown_once = await request.app[PUSH_WAYS].bind(user_id, way, key)
    return json_envelope(dict(shown_once))


@routes.post("/open/push-way/{way}/unbind")
async def unbind(request: web.Request) -> web.Response:
    user_id = await _user(request)
    await request.app[PUSH_WAYS].unbind(user_id, _way(request, WAYS))
    return json_envelope()


@routes.post("/open/push-way/{way}/verify")
async def send_verification_again(request: web.Request) -> web.Response:
    user_id = await _user(request)
    await request.app[PUSH_WAYS].send_again(user_id, _way(request, BINDABLE))
    return json_envelope()
