"""JSON in and out of the HTTP API: request bodies as fields, answers as envelopes.

One place decides what a request body may be (a JSON object or a form) and how an answer is written, so
every service parses and answers alike.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from shared.envelope import ApiError, envelope, error_envelope, invalid


def is_client_api(path: str) -> bool:
    """`/open/` and `/access/` answer HTTP 200 for every `ret`, as existing clients expect."""
    return path.startswith(("/open/", "/access/"))


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_envelope(data: dict[str, Any] | None = None) -> web.Response:
    return web.json_response(envelope(data), dumps=dumps)


def error_response(request: web.Request, error: ApiError) -> web.Response:
    status = 200 if is_client_api(request.path) else error.http_status
    return web.json_response(error_envelope(error), status=status, dumps=dumps)


async def body_fields(request: web.Request) -> dict[str, Any]:
    """The fields of a POST body: a JSON object or a form.

    A JSON object is recognised whatever the Content-Type says, because `curl -d '{...}'` labels it a form.
    Bodies over the app's `client_max_size` raise `HTTPRequestEntityTooLarge` (413) while being read.
    """
    if not request.can_read_body:
        return {}
    if request.content_type == "multipart/form-data":
        form = await request.post()
        fields: dict[str, Any] = {}
        for name in form:
            value = form.getone(name)
            if not isinstance(value, str):
                raise invalid(f"field {name} must be text, not a file")
            fields[name] = value
        return fields
    raw = await request.read()
    if not raw.strip():
        return {}
    if request.content_type == "application/x-www-form-urlencoded" and not raw.lstrip().startswith(b"{"):
        try:
            pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=True)
        except (ValueError, UnicodeDecodeError):
            raise invalid("body is not a valid form") from None
        return dict(pairs)
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise invalid("body must be a JSON object")
    return payload
