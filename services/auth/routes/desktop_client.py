"""What the iGot desktop client (Electron-iGot 1.1.x) asks of a server besides sign-in and the inbox.

The hosted service it was made for sold points ("jpoint") for VIP time; a self-hosted server has no
points and no limits of that kind: every account is VIP, its balance 0, no plan to exchange. The
client checks `GET /client/version/` at start (no token; `?st=` only defeats caches) and offers the
download when the version differs: the answer comes from the settings (`IGOT_CLIENT_*`).

The client sends `?token=` on every call and treats any HTTP status but 200 as a network failure, and a
non-zero `ret` as an error whose `errMsg` it shows.
"""

from __future__ import annotations

from aiohttp import web

from shared.envelope import ApiError, Ret
from shared.http_json import json_envelope
from shared.sessions import authenticate
from shared.web import SETTINGS, STORE, token_of

routes = web.RouteTableDef()

NO_POINTS = "this server is self-hosted: it has no points to exchange, and every account has all features"


async def _signed_in(request: web.Request) -> str:
    return await authenticate(request.app[STORE], token_of(request))


@routes.get("/open/user/info", allow_head=False)
async def user_info(request: web.Request) -> web.Response:
    await _signed_in(request)
    return json_envelope({"balance": 0, "vip": True})


@routes.get("/open/jpoint/plans", allow_head=False)
async def point_plans(request: web.Request) -> web.Response:
    await _signed_in(request)
    return json_envelope({"plans": []})


@routes.get("/open/jpoint/balance", allow_head=False)
async def point_balance(request: web.Request) -> web.Response:
    await _signed_in(request)
    return json_envelope({"balance": 0})


@routes.post("/open/jpoint/exchange")
async def exchange_points(request: web.Request) -> web.Response:
    await _signed_in(request)
    raise ApiError(Ret.WRONG_STATE, NO_POINTS)


@routes.get("/client/version/", allow_head=False)
async def client_version(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    version = {
        "version": settings.client_version,
        "intro": settings.client_intro,
        "url": {"mac": settings.client_url_mac, "win": settings.client_url_win},
    }
    return json_envelope({"version": version})
