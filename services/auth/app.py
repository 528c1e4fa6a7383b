"""The auth service: sign-in (e-mail, login codes, sessions), push ways (binding, verification, order);
users sign up by e-mail or are created with `igot user create`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.auth.account_lifecycle import AccountDeletion, DeletionPolicy
from services.auth.group_links import GroupLinkPolicy, GroupLinks
from services.auth.login_limiter import LoginLimiter
from services.auth.purge import AccountPurge
from services.auth.push_way_targets import TargetRules
from services.auth.push_ways import PushWayPolicy, PushWays
from services.auth.routes import account as account_routes
from services.auth.routes import delivery_preferences as delivery_preference_routes
from services.auth.routes import desktop_client, login, push_ways, signin, user, verify, wechat
from services.auth.routes import group_links as group_link_routes
from services.auth.routes import subscriptions as subscription_routes
from services.auth.routes import temporary_links as temporary_link_routes
from services.auth.signin import EmailSignin, SigninPolicy
from services.auth.subscriptions import Subscriptions
from services.auth.sweeper import ExpirySweeper
from services.auth.temporary_links import LinkPolicy, TemporaryLinks
from services.auth.wechat_binding import WeChatBinding
from shared.periodic import Periodic
from shared.web import BUS, RATE_LIMITER, SETTINGS, STORE
from shared.wechat.account import configured_account, open_api_session

WECHAT_SCENES_SWEEP_SECONDS = 600.0


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


async def _temporary_links_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = LinkPolicy(
        public_url=settings.public_url,
        ttl_days=settings.temporary_link_ttl_days,
        per_user=settings.temporary_links_per_user,
    )
    app[temporary_link_routes.TEMPORARY_LINKS] = TemporaryLinks(app[STORE], app[BUS], policy)
    yield


async def _group_links_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = GroupLinkPolicy(public_url=settings.public_url, per_user=settings.group_links_per_user)
    app[group_link_routes.GROUP_LINKS] = GroupLinks(app[STORE], app[BUS], policy)
    app[subscription_routes.SUBSCRIPTIONS] = Subscriptions(app[STORE])
    yield


async def _account_lifecycle_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = DeletionPolicy(
        code_ttl_seconds=settings.account_deletion_code_ttl_seconds,
        mail_interval_seconds=settings.account_deletion_mail_interval_seconds,
        mails_per_day=settings.account_deletion_mails_per_day,
    )
    app[account_routes.DELETION] = AccountDeletion(app[STORE], app[BUS], policy)
    purge = AccountPurge(
        app[STORE],
        interval_seconds=settings.account_purge_interval_seconds,
        grace_seconds=settings.account_purge_grace_seconds,
    )
    purge.start()
    yield
    await purge.stop()


async def _wechat_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    session = open_api_session()
    account = configured_account(app[STORE], session, settings)
    binding = WeChatBinding(app[STORE], account, qrcode_url=settings.wechat_qrcode_url)
    app[wechat.WECHAT_BINDING] = binding
    sweeper = Periodic(
        "wechat-scenes-sweeper",
        binding.sweep,
        interval_seconds=WECHAT_SCENES_SWEEP_SECONDS,
        report="expired WeChat QR scenes removed",
    )
    sweeper.start()
    yield
    await sweeper.stop()
    await session.close()


async def _email_signin_ctx(app: web.Application) -> AsyncIterator[None]:
    email_signin = EmailSignin(app[STORE], app[BUS], app[RATE_LIMITER], SigninPolicy.of(app[SETTINGS]))
    app[signin.SIGNIN] = email_signin
    yield
    await email_signin.close()


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_email_signin_ctx)
    app.cleanup_ctx.append(_limiter_and_sweeper_ctx)
    app.cleanup_ctx.append(_push_ways_ctx)
    app.cleanup_ctx.append(_account_lifecycle_ctx)
    app.cleanup_ctx.append(_temporary_links_ctx)
    app.cleanup_ctx.append(_group_links_ctx)
    app.cleanup_ctx.append(_wechat_ctx)
    app.add_routes(login.routes)
    app.add_routes(signin.routes)
    app.add_routes(user.routes)
    app.add_routes(desktop_client.routes)
    app.add_routes(push_ways.routes)
    app.add_routes(delivery_preference_routes.routes)
    app.add_routes(wechat.routes)
    app.add_routes(verify.routes)
    app.add_routes(account_routes.routes)
    app.add_routes(temporary_link_routes.routes)
    app.add_routes(group_link_routes.routes)
    app.add_routes(subscription_routes.routes)
