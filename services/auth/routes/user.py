"""The signed-in user's account and sessions: `GET /open/user/`, `POST /open/user/logout`,
`POST /open/user/login-code`, `GET /open/user/sessions`, `POST /open/user/sessions/{id}/revoke` and
`POST /open/user/sessions/revoke-others`.

A login code signs in another client (the desktop client, a second browser): issuing one ends the
previous code and the sessions begun with it, as the seed has it. No answer here carries a `token`
field: the desktop client takes any `data.token` it sees as its new session.
"""

from __future__ import annotations

from aiohttp import web

from services.auth import accounts, user_sessions
from shared.http_json import json_envelope
from shared.logs import get_logger
from shared.sessions import authenticate_session
from shared.timefmt import iso_ms
from shared.web import SETTINGS, STORE, token_of

routes = web.RouteTableDef()
log = get_logger("igot.auth.user")


@routes.get("/open/user/", allow_head=False)
@routes.get("/open/user", allow_head=False)
async def account(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session = await authenticate_session(store, token_of(request))
    return json_envelope(await accounts.overview(store, session.user_id))


@routes.post("/open/user/logout")
async def logout(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session = await authenticate_session(store, token_of(request))
    await user_sessions.revoke(store, session, session.session_id)
    return json_envelope()


@routes.post("/open/user/login-code")
async def login_code(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session = await authenticate_session(store, token_of(request))
    issued = await accounts.issue_login_code_for(
        store, session.user_id, ttl_seconds=request.app[SETTINGS].login_code_ttl_seconds
    )
    log.info("login code issued")
    return json_envelope({"code": issued.code, "expireAt": iso_ms(issued.expires_at)})


@routes.get("/open/user/sessions", allow_head=False)
async def sessions(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session = await authenticate_session(store, token_of(request))
    return json_envelope(await user_sessions.list_sessions(store, session))


@routes.post("/open/user/sessions/revoke-others")
async def revoke_others(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session = await authenticate_session(store, token_of(request))
    return json_envelope({"revoked": await user_sessions.revoke_others(store, session)})


@routes.post("/open/user/sessions/{id}/revoke")
async def revoke(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session = await authenticate_session(store, token_of(request))
    await user_sessions.revoke(store, session, request.match_info["id"])
    return json_envelope()
