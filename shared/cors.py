"""Cross-origin requests: every answer may be read by a page from any origin.

The desktop client runs in a browser engine from `file://` and sends JSON (`Content-Type:
application/json`), so its browser asks first with a preflight `OPTIONS` request; web pages that push or
read an inbox do the same. Nothing iGot answers relies on cookies or other ambient credentials (tokens
and keys travel in the URL or the `Authorization` header), so allowing any origin exposes nothing a
script could not already fetch with the same token: the answers say `*` and never allow credentials.
"""

from __future__ import annotations

from aiohttp import web

from shared.web import SERVER_NAME, Handler

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Content-Type, Accept, Authorization, Idempotency-Key, X-Trace-Id"
EXPOSED_HEADERS = "Retry-After, X-Trace-Id"
PREFLIGHT_MAX_AGE_SECONDS = 600


def is_preflight(request: web.Request) -> bool:
    return (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers preflights itself (before routing, which has no OPTIONS routes) and marks every answer."""
    if is_preflight(request):
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
                "Server": SERVER_NAME,
            },
        )
    response = await handler(request)
    if "Origin" in request.headers:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response
