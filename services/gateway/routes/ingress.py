"""Push ingress: `GET /{key}/{content}`, `GET /{key}/{title}/{content}`, `POST /{key}` (JSON or form).

`{key}` only matches what a push key looks like (24 lowercase hex), so these catch-all routes never take
a path meant for something else: `/open/…` paths that do not exist, or `POST /healthz`, answer 404/405.
A push is a side effect, so HEAD (which aiohttp otherwise adds to every GET route) is refused with 405
rather than storing a message for `curl -I`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway.app_keys import INGRESS
from services.gateway.push_fields import parse_push
from shared.http_json import body_fields, json_envelope, url_fields
from shared.web import client_address

routes = web.RouteTableDef()

IDEMPOTENCY_HEADER = "Idempotency-Key"


def _query_fields(request: web.Request) -> dict[str, Any]:
    return url_fields(request)


async def _accept(request: web.Request, fields: dict[str, Any]) -> web.Response:
    push = parse_push(fields, idempotency_header=request.headers.get(IDEMPOTENCY_HEADER))
    message_id = await request.app[INGRESS].accept(
        request.match_info["key"], push, trace_id=request["trace_id"], client=client_address(request)
    )
    return json_envelope({"id": message_id})


@routes.get("/{key:[0-9a-f]{24}}/{content}", allow_head=False)
async def push_content(request: web.Request) -> web.Response:
    fields = _query_fields(request)
    fields["content"] = request.match_info["content"]
    return await _accept(request, fields)


@routes.get("/{key:[0-9a-f]{24}}/{title}/{content}", allow_head=False)
async def push_title_content(request: web.Request) -> web.Response:
    fields = _query_fields(request)
    fields["title"] = request.match_info["title"]
    fields["content"] = request.match_info["content"]
    return await _accept(request, fields)


@routes.get("/{key:[0-9a-f]{24}}", allow_head=False)
async def push_query(request: web.Request) -> web.Response:
    return await _accept(request, _query_fields(request))


@routes.post("/{key:[0-9a-f]{24}}")
async def push_body(request: web.Request) -> web.Response:
    fields = _query_fields(request)
    fields.update(await body_fields(request))
    return await _accept(request, fields)
