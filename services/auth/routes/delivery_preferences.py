"""Quiet hours and read escalation (`/open/push-way/quiet-hours`, `/open/push-way/escalation`): read
with GET, set with POST (JSON or form); every answer is the setting as stored."""

from __future__ import annotations

from aiohttp import web

from services.auth import delivery_preferences
from shared.http_json import body_fields, json_envelope
from shared.sessions import authenticate
from shared.web import STORE, token_of

routes = web.RouteTableDef()


async def _user(request: web.Request) -> str:
    return await authenticate(request.app[STORE], token_of(request))


@routes.get("/open/push-way/quiet-hours", allow_head=False)
async def get_quiet_hours(request: web.Request) -> web.Response:
    user_id = await _user(request)
    return json_envelope(await delivery_preferences.quiet_hours(request.app[STORE], user_id))


@routes.post("/open/push-way/quiet-hours")
async def set_quiet_hours(request: web.Request) -> web.Response:
    user_id = await _user(request)
    fields = await body_fields(request)
    return json_envelope(await delivery_preferences.set_quiet_hours(request.app[STORE], user_id, fields))


@routes.get("/open/push-way/escalation", allow_head=False)
async def get_escalation(request: web.Request) -> web.Response:
    user_id = await _user(request)
    return json_envelope(await delivery_preferences.escalation(request.app[STORE], user_id))


@routes.post("/open/push-way/escalation")
async def set_escalation(request: web.Request) -> web.Response:
    user_id = await _user(request)
    fields = await body_fields(request)
    return json_envelope(await delivery_preferences.set_escalation(request.app[STORE], user_id, fields))
