"""The baseline: a bare aiohttp endpoint shaped like push ingress that stores nothing.

`python -m bench.baseline --port N` answers `POST /<key>` (JSON body) with the success envelope and a fresh
id, and `GET /readyz` with 200, so the harness starts and waits on it like an iGot process.
"""

from __future__ import annotations

import argparse
import itertools
import os

from aiohttp import web

_PROCESS_PART = os.urandom(8).hex()
_counter = itertools.count()


async def push(request: web.Request) -> web.Response:
    fields = await request.json()
    if not isinstance(fields, dict):
        return web.json_response({"ret": 202, "data": {}, "errMsg": "body must be a JSON object"}, status=400)
    message_id = f"{_PROCESS_PART}{next(_counter) & 0xFFFFFFFF:08x}"
    return web.json_response({"ret": 0, "data": {"id": message_id}, "errMsg": "success"})


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/{key}", push)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
