"""The API contract: `GET /openapi.json` (OpenAPI 3.1) and `GET /docs` (the same, as a page).

Every process serves both, whichever services it runs: the document describes the whole product. Both
are built once per process; the page is rendered on the server from local code only.
"""

from __future__ import annotations

from aiohttp import web

from igot.openapi.document import build_document
from igot.openapi.page import render_page
from shared.http_json import dumps

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
# The page has no script and loads nothing: a policy that forbids everything but its own inline style.
DOCS_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def install(app: web.Application, *, public_url: str | None = None) -> None:
    """Add both routes; call before any catch-all route so that they match first."""
    document = build_document(public_url)
    body = dumps(document)
    page = render_page(document)

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    async def docs(request: web.Request) -> web.Response:
        return web.Response(
            text=page, content_type="text/html", headers={"Content-Security-Policy": DOCS_POLICY}
        )

    app.router.add_get(OPENAPI_PATH, openapi)
    app.router.add_get(DOCS_PATH, docs)
