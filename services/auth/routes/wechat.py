"""WeChat's routes: the bind QR code of the client API, and the official account's callback.

`GET /open/push-way/wechat/bind` answers `{qrcode, ticket, expireAt}` (`wechat_binding`).

`GET|POST /wechat/callback` is the URL configured in the official account ("server configuration",
plaintext mode). Every call is signed with `IGOT_WECHAT_TOKEN` (`shared.wechat.callback`); an unsigned
or wrongly signed one is refused with 403 and changes nothing. `GET` is WeChat's check of the URL: it
answers the `echostr` it was sent. `POST` carries one XML message, at most `MAX_XML_BYTES`; it is handled
and answered `success`, the word WeChat expects (it retries a call that takes over 5 seconds, and the
handling is one or two store writes).
"""

from __future__ import annotations

import re

from aiohttp import web

from services.auth.wechat_binding import WeChatBinding
from shared.envelope import ApiError, Ret, invalid, rate_limited
from shared.http_json import json_envelope
from shared.rate_limit import Limit
from shared.sessions import authenticate
from shared.web import RATE_LIMITER, SETTINGS, STORE, token_of
from shared.wechat.callback import MAX_XML_BYTES, BadEventError, parse_event, signature_holds

routes = web.RouteTableDef()
WECHAT_BINDING = web.AppKey("auth.wechat_binding", WeChatBinding)
# WeChat's echostr is a long decimal number; anything printable and short is echoed, nothing else.
ECHOSTR = re.compile(r"[A-Za-z0-9_-]{1,128}")


# Each QR code is a call to WeChat's API, which counts it against the account's daily quota.
QR_CODES_PER_USER = Limit("wechat-qrcode", 20, 3600.0)


@routes.get("/open/push-way/wechat/bind", allow_head=False)
async def bind_wechat(request: web.Request) -> web.Response:
    user_id = await authenticate(request.app[STORE], token_of(request))
    refusal = await request.app[RATE_LIMITER].check(QR_CODES_PER_USER, user_id)
    if refusal is not None:
        raise rate_limited(
            "too many WeChat QR codes asked for: try again later",
            retry_after_seconds=refusal.retry_after_seconds,
        )
    return json_envelope(dict(await request.app[WECHAT_BINDING].new_qrcode(user_id)))


@routes.get("/wechat/callback", allow_head=False)
async def check_callback_url(request: web.Request) -> web.Response:
    _require_signature(request)
    echostr = request.query.get("echostr", "")
    if not ECHOSTR.fullmatch(echostr):
        raise invalid("echostr is missing or not what WeChat sends")
    return web.Response(text=echostr, content_type="text/plain")


@routes.post("/wechat/callback")
async def receive_event(request: web.Request) -> web.Response:
    _require_signature(request)
    try:
        event = parse_event(await _read_capped(request))
    except BadEventError as error:
        raise invalid(str(error)) from error
    await request.app[WECHAT_BINDING].handle_event(event)
    return web.Response(text="success", content_type="text/plain")


def _require_signature(request: web.Request) -> None:
    query = request.query
    token = request.app[SETTINGS].wechat_token.get_secret_value()
    if not token:
        raise ApiError(Ret.FORBIDDEN, "this server has no WeChat official account", http_status=403)
    if not signature_holds(
        token,
        signature=query.get("signature", ""),
        timestamp=query.get("timestamp", ""),
        nonce=query.get("nonce", ""),
    ):
        raise ApiError(Ret.FORBIDDEN, "the signature does not match", http_status=403)


async def _read_capped(request: web.Request) -> bytes:
    too_large = ApiError(Ret.INVALID, "request body too large", http_status=413)
    if request.content_length is not None and request.content_length > MAX_XML_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_XML_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_XML_BYTES:
            raise too_large
    return b"".join(chunks)
