"""`POST /open/user/login {code}` → `{token}`."""

from __future__ import annotations

from aiohttp import web

from services.auth import accounts
from services.auth.login_limiter import LoginLimiter
from shared.envelope import ApiError, Ret
from shared.http_json import body_fields, json_envelope
from shared.web import SETTINGS, STORE, client_address

routes = web.RouteTableDef()
LIMITER = web.AppKey("auth.login_limiter", LoginLimiter)


@routes.post("/open/user/login")
async def login(request: web.Request) -> web.Response:
    limiter = request.app[LIMITER]
    client = client_address(request)
    if limiter.blocked(client):
        raise ApiError(Ret.RATE_LIMITED, "too many failed sign-ins, wait a minute")
    code = (await body_fields(request)).get("code")
    try:
        token = await accounts.login(
            request.app[STORE], code, token_ttl_seconds=request.app[SETTINGS].token_ttl_seconds
        )
    except ApiError:
        limiter.failed(client)
        raise
    return json_envelope({"token": token})
