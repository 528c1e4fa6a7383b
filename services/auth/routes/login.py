"""`POST /open/user/login {code}` → `{token}`; refused with 205 and `Retry-After` while throttled."""

from __future__ import annotations

from aiohttp import web

from services.auth import accounts
from services.auth.login_limiter import LoginLimiter
from shared.envelope import ApiError, rate_limited
from shared.http_json import body_fields, json_envelope
from shared.logs import get_logger
from shared.web import SETTINGS, STORE, client_address

routes = web.RouteTableDef()
LIMITER = web.AppKey("auth.login_limiter", LoginLimiter)

log = get_logger("igot.auth")


@routes.post("/open/user/login")
async def login(request: web.Request) -> web.Response:
    limiter = request.app[LIMITER]
    client = client_address(request)
    refusal = await limiter.refusal(client)
    if refusal is not None:
        log.warning("sign-in throttled", reason=refusal.reason, retry_after=refusal.retry_after_seconds)
        raise rate_limited(refusal.reason, retry_after_seconds=refusal.retry_after_seconds)
    code = (await body_fields(request)).get("code")
    try:
        token = await accounts.login(
            request.app[STORE], code, token_ttl_seconds=request.app[SETTINGS].token_ttl_seconds
        )
    except ApiError:
        await limiter.failed(client)
        raise
    return json_envelope({"token": token})
