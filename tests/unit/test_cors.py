"""Cross-origin requests: a browser's preflight is answered before routing, and answers carry `*`."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared.cors import cors_middleware


async def _client() -> TestClient[web.Request, web.Application]:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"ret": 0})

    app = web.Application(middlewares=[cors_middleware])
    app.router.add_get("/open/message/", hello)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_preflight_from_the_desktop_client_is_allowed() -> None:
    client = await _client()
    try:
        answer = await client.options(
            "/open/message/",
            headers={
                "Origin": "file://",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert answer.status == 204
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "GET" in answer.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in answer.headers["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in answer.headers
    finally:
        await client.close()


async def test_answers_to_a_cross_origin_request_say_any_origin() -> None:
    client = await _client()
    try:
        answer = await client.get("/open/message/", headers={"Origin": "file://"})
        assert answer.status == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        same_origin = await client.get("/open/message/")
        assert "Access-Control-Allow-Origin" not in same_origin.headers
        # An OPTIONS request that is no preflight is routed as usual (no such route here).
        assert (await client.options("/open/message/")).status == 405
    finally:
        await client.close()
