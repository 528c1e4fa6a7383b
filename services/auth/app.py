"""The auth service: sign-in (login codes, tokens), push ways (binding, verification, order);
users are created with `igot user create`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.auth.login_limiter import LoginLimiter
from services.auth.push_way_targets import TargetRules
from services.auth.push_ways import PushWayPolicy, PushWays
from services.auth.routes import login, push_ways, verify
from services.auth.sweeper import ExpirySweeper
from shared.web import BUS, SETTINGS, STORE


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


async def _push_ways_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = PushWayPolicy(
        public_url=settings.public_url,
        targets=TargetRules(bark_server=settings.bark_server, allow_private=settings.allow_private_targets),
        interval_seconds=settings.verification_interval_seconds,
        per_day=settings.verifications_per_day,
    )
    app[push_ways.PUSH_WAYS] = PushWays(app[STORE], app[BUS], policy)
    yield


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_limiter_and_sweeper_ctx)
    app.cleanup_ctx.append(_push_ways_ctx)
    app.add_routes(login.routes)
    app.add_routes(push_ways.routes)
    app.add_routes(verify.routes)
