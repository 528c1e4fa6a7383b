"""The auth service: sign-in (login codes, tokens); users are created with `igot user create`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.auth.login_limiter import LoginLimiter
from services.auth.routes import login
from services.auth.sweeper import ExpirySweeper
from shared.web import STORE


async def _sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    sweeper = ExpirySweeper(app[STORE])
    sweeper.start()
    yield
    await sweeper.stop()


def install(app: web.Application) -> None:
    app[login.LIMITER] = LoginLimiter()
    app.cleanup_ctx.append(_sweeper_ctx)
    app.add_routes(login.routes)
