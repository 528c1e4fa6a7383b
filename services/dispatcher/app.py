"""The dispatcher: routes accepted messages into inboxes and delivers them on the users' push ways.

One consumer, the router, routes accepted messages (`dispatcher.accepted`) and checks read escalations
(`dispatcher.escalation`); one consumer per channel
delivers on its way (`dispatcher.deliver.<way>`), each with its own queue and retry budget; where the
e-mail channel runs, mails to an account's own address (`dispatcher.account-mail`) are sent too. Which of
them a process runs is its `Consumers`:

* `igot serve dispatcher` (and standalone): the router and every channel, in one process;
* `igot serve dispatcher --channel bark[,email]`: only those channels' consumers, no router, so that each
  channel scales and is throttled on its own (one Deployment per channel);
* `igot serve dispatcher --router-only`: the router alone, next to such channel processes.

The channels of a process share one pooled HTTP session. Its connector refuses non-public addresses at
connect time (`shared.outbound`), unless `IGOT_ALLOW_PRIVATE_TARGETS`; each channel sets its own connect
and total timeouts per request, and the session's are the backstop for any call that sets none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver

from services.dispatcher.channels import open_channels
from services.dispatcher.channels.base import Channel
from services.dispatcher.clock import SystemClock
from services.dispatcher.consumers import deliver
from services.dispatcher.consumers.accepted import AcceptedHandler
from services.dispatcher.consumers.account_mail import AccountMailSender
from services.dispatcher.consumers.escalation import EscalationHandler
from shared.data import deliveries
from shared.ids import now_ms
from shared.logs import get_logger
from shared.outbound import AddressPolicy, is_public, outbound_connector
from shared.periodic import Periodic
from shared.settings import Settings
from shared.web import BUS, METRICS, SETTINGS, STORE

log = get_logger("dispatcher")

HTTP_SESSION = web.AppKey("dispatcher_http_session", aiohttp.ClientSession)
# Connections kept: webhooks of many users, Bark and WeChat endpoints shared by all.
POOL_SIZE = 100
POOL_PER_HOST = 10
# For a call that sets no timeout of its own; channels set tighter ones.
SESSION_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10)
CLAIM_SWEEP_SECONDS = 3600.0


@dataclass(frozen=True)
class Consumers:
    """Which of the dispatcher's consumers a process runs."""

    router: bool = True
    channels: tuple[str, ...] | None = None  # None: every channel

    @classmethod
    def only_channels(cls, ways: Sequence[str]) -> Consumers:
        return cls(router=False, channels=tuple(ways))

    @classmethod
    def router_only(cls) -> Consumers:
        return cls(router=True, channels=())

    def pick(self, channels: dict[str, Channel]) -> dict[str, Channel]:
        """The channels to consume for, of those this release has; a name it lacks is a ValueError."""
        if self.channels is None:
            return channels
        unknown = sorted(set(self.channels) - set(channels))
        if unknown:
            raise ValueError(f"no such channel: {', '.join(unknown)} (channels: {', '.join(channels)})")
        return {way: channels[way] for way in self.channels}


CONSUMERS = web.AppKey("dispatcher_consumers", Consumers)


def open_session(
    settings: Settings, *, resolver: AbstractResolver | None = None, allowed: AddressPolicy = is_public
) -> aiohttp.ClientSession:
    """The process's one outbound HTTP session, pooled and guarded (`resolver` and `allowed` replace
    the system's name resolution and the public-address rule in tests)."""
    connector = outbound_connector(
        allow_private=settings.allow_private_targets,
        # The operator's endpoints are reached wherever they are.
        trusted_urls=(settings.bark_server, settings.wechat_api_base),
        resolver=resolver,
        allowed=allowed,
        limit=POOL_SIZE,
        limit_per_host=POOL_PER_HOST,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=SESSION_TIMEOUT,
        # Answers are read with a size cap; a compressed one could inflate past it on decoding.
        auto_decompress=False,
        headers={"Accept-Encoding": "identity"},
        trust_env=False,  # no proxy from the environment between the guard and the target
    )


async def _consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    store, bus, metrics, settings = app[STORE], app[BUS], app[METRICS], app[SETTINGS]
    selection = app.get(CONSUMERS, Consumers())
    if selection.channels != ():
        session = app[HTTP_SESSION] = open_session(settings)
        channels = selection.pick(open_channels(session, settings, store))
        delays = settings.bus_retry_delays
        handlers = deliver.consumers(
            store,
            bus,
            metrics,
            channels,
            delays=delays,
            prefetch=settings.delivery_prefetch,
            escalation_minute_seconds=settings.escalation_minute_seconds,
        )
        for handler in handlers:
            await bus.subscribe(handler.subscription())
        if "email" in channels:
            # Mails to an account's own address (sign-in and deletion codes) go where e-mail is sent.
            await bus.subscribe(AccountMailSender(channels["email"], delays=delays).subscription())
    else:
        channels = {}
    log.info("dispatcher consumers", router=selection.router, channels=list(channels))
    sweeper: Periodic | None = None
    if selection.router:
        clock = SystemClock(settings.clock_offset_seconds)
        await bus.subscribe(AcceptedHandler(store, bus, metrics, clock=clock).subscription())
        await bus.subscribe(EscalationHandler(store, bus, clock=clock).subscription())
        # One sweep per deployment is enough: it runs beside the router, of which there is always one.
        sweeper = Periodic(
            "delivery-claims-sweeper",
            lambda: deliveries.delete_claims_before(store, now_ms() - deliveries.CLAIM_KEEP_MS),
            interval_seconds=CLAIM_SWEEP_SECONDS,
            report="old delivery claims removed",
        )
        sweeper.start()
    yield
    if sweeper is not None:
        await sweeper.stop()


async def _close_session(app: web.Application) -> None:
    # After every cleanup context, the bus's included: sends still in flight when stopping was asked
    # for finish on an open session instead of failing.
    if HTTP_SESSION in app:
        await app[HTTP_SESSION].close()


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_consumers_ctx)
    app.on_cleanup.append(_close_session)
