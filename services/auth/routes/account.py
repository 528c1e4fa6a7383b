"""The account's own data: `GET /open/user/export` (all of it, as JSON) and `POST /open/user/delete`.

The export is streamed: the token is checked and the account read before the first byte, so a refusal
is an ordinary envelope; once the answer has begun, a failure can no longer change its status, so the
connection is cut instead, and the client sees an incomplete download rather than a document that looks
whole. Opening it has no side effect, but it is a large read: HEAD is refused rather than served by it.
"""

from __future__ import annotations

from aiohttp import web

from services.auth.account_export import write_export
from services.auth.account_lifecycle import AccountDeletion
from services.auth.data import users
from shared.envelope import ApiError, Ret
from shared.http_json import body_fields, json_envelope
from shared.logs import get_logger
from shared.sessions import authenticate
from shared.timefmt import iso_ms
from shared.tracing import TRACE_HEADER
from shared.web import SERVER_NAME, STORE, token_of

routes = web.RouteTableDef()
DELETION = web.AppKey("auth.account_deletion", AccountDeletion)

log = get_logger("igot.auth.account")

EXPORT_FILE = "igot-export.json"


@routes.get("/open/user/export", allow_head=False)
async def export(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    user_id = await authenticate(store, token_of(request))
    user = await users.get_by_id(store, user_id)
    if user is None or users.status_of(user) != users.ACTIVE:
        raise ApiError(Ret.WRONG_STATE, "the account is not active")
    # The middleware's headers cannot be added once the answer has begun: set here.
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{EXPORT_FILE}"',
            "Cache-Control": "no-store",
            TRACE_HEADER: request["trace_id"],
            "Server": SERVER_NAME,
        }
    )
    await response.prepare(request)
    try:
        count = await write_export(store, user, response.write)
    except Exception:
        log.exception("export failed after it began: connection cut", user_id=user_id)
        if request.transport is not None:
            request.transport.abort()
        return response
    log.info("account exported", user_id=user_id, messages=count)
    await response.write_eof()
    return response


@routes.post("/open/user/delete")
async def delete(request: web.Request) -> web.Response:
    user_id = await authenticate(request.app[STORE], token_of(request))
    fields = await body_fields(request)
    deletion = request.app[DELETION]
    if fields.get("code") is None:
        expires = await deletion.send_code(user_id)
        return json_envelope({"confirm": "code sent", "expireAt": iso_ms(expires)})
    await deletion.confirm(user_id, fields["code"])
    return json_envelope(
        {"deleted": True, "message": "the account is closed; its data will be removed shortly"}
    )
