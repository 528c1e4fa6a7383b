"""`POST /open/user/login {code}` → `{token}`; refused with 205 and `Retry-After` while throttled.

The code is a login code (`POST /open/user/login-code`, `igot user login-code`); 5-character codes of
older releases sign in too. The session remembers its client (a label made from the User-Agent) and
address, for the user's listing of sessions.
"""

from __future__ import annotations

from aiohttp import web

from services.auth import accounts
from services.auth.client_label import client_label
from services.auth.login_limiter import LoginLimiter
from shared.envelope import ApiError, rate_limited
from shared.http_json import body_fields, json_envelope
from shared.logs import get_logger
from shared.web import SETTINGS, STORE, client_address

routes = web.RouteTableDef()
LIMITER = web.AppKey("auth.login_limiter", LoginLimiter)

log = get_logger("igot.auth")


def client_info(request: web.Request) -> accounts.ClientInfo:
    """Who opens a session: what the listing of sessions shows of them."""
    return accounts.ClientInfo(
        label=client_label(request.headers.get("User-Agent")), ip=client_address(request)
    )


async def refuse_if_throttled(request: web.Request) -> LoginLimiter:
    """Refuse (205, `Retry-After`) a client whose recent sign-ins failed too often; the limiter otherwise."""
    limiter = request.app[LIMITER]
    refusal = await limiter.refusal(client_address(request))
    if refusal is not None:
        log.warning("sign-in throttled", reason=refusal.reason, retry_after=refusal.retry_after_seconds)
        raise rate_limited(refusal.reason, retry_after_seconds=refusal.retry_after_seconds)
    return limiter


@routes.post("/open/user/login")
async def login(request: web.Request) -> web.Response:
    limiter = await refuse_if_throttled(request)
    code = (await body_fields(request)).get("code")
    try:
        token = await accounts.login(
            request.app[STORE],
            code,
            token_ttl_seconds=request.app[SETTINGS].token_ttl_seconds,
            client=client_info(request),
        )
    except ApiError:
        await limiter.failed(client_address(request))
        raise
    return json_envelope({"token": token})
