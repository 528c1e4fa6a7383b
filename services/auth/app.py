"""The auth service: sign-in (login codes, tokens); users are created with `igot user create`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.auth.login_limiter import LoginLimiter
from services.auth.routes import login
from services.auth.sweeper import ExpirySweeper
from shared.web import SETTINGS, STORE


async def _limiter_and_sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    limiter = LoginLimiter(
        app[STORE],
        per_client=settings.login_failures_per_client,
        global_budget=settings.login_failures_global,
    )
    app[login.LIMITER] = limiter
    sweeper = ExpirySweeper(app[STORE], limiter)
    sweeper.start()
    yield
    await sweeper.stop()


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_limiter_and_sweeper_ctx)
    app.add_routes(login.routes)
