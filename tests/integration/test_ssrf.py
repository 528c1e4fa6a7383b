"""Outbound safety through the dispatcher's own session: user-supplied targets on private addresses are
refused before any connection is made (a local receiver records nothing), by IP literal, by name, after
a redirect; `IGOT_ALLOW_PRIVATE_TARGETS` lets them through. And the channel processes of a split
deployment: `igot serve dispatcher --channel webhook` beside `--router-only`, on RabbitMQ and the
MongoDB-compatible server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from ipaddress import ip_address
from pathlib import Path
from typing import ClassVar

import aio_pika
import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.dispatcher.app import open_session
from services.dispatcher.channels.bark import BarkChannel
from services.dispatcher.channels.base import Delivery
from services.dispatcher.channels.webhook import WebhookChannel
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError
from shared.messages.push import MessageBody
from shared.outbound import IpAddress, is_public, refusal
from shared.settings import Settings
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.processes import (
    Deployment,
    Process,
    base_env,
    distributed_settings,
    drop_database,
    free_port,
    remove_broker_namespace,
    start,
    wait_ready,
)
from tests.integration.test_delivery_flow import SECRET, bind_webhook
from tests.integration.test_push_flow import get_json
from tests.waiting import eventually

DELIVERY = Delivery(
    message_id="6b0b0d97ad536848af03b404",
    body=MessageBody(title="T", content="C"),
    app="iGot",
    created_at=1575017083430,
)
# Stands for a host on the internet: the redirecting server below listens there.
STAND_IN_PUBLIC = ip_address("127.0.0.2")


class StaticResolver(AbstractResolver):
    """Names the test owns, as a DNS server under an attacker's control would answer them."""

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names
        self._system = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._names:
            return await self._system.resolve(host, port, family)
        address = self._names[host]
        kind = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [{"hostname": host, "host": address, "port": port, "family": kind, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        await self._system.close()


class QuickWebhook(WebhookChannel):
    connect_timeout: ClassVar[float] = 2.0
    total_timeout: ClassVar[float] = 5.0


def treating_as_public(stand_in: IpAddress) -> Callable[[IpAddress], bool]:
    return lambda address: address == stand_in or is_public(address)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    running = WebhookReceiver(SECRET)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def redirector(receiver: WebhookReceiver) -> AsyncIterator[str]:
    """A server on the stand-in public address whose every answer redirects to the loopback receiver."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(receiver.url)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, str(STAND_IN_PUBLIC), 0)
    await site.start()
    yield f"http://public.test:{runner.addresses[0][1]}/hook"
    await runner.cleanup()


@pytest.fixture
async def session(receiver: WebhookReceiver) -> AsyncIterator[aiohttp.ClientSession]:
    """The session as the dispatcher opens it, with names of the test's own and the stand-in address
    counted as public."""
    resolver = StaticResolver(
        {"rebound.test": "127.0.0.1", "intranet.test": "10.1.2.3", "public.test": str(STAND_IN_PUBLIC)}
    )
    opened = open_session(Settings(), resolver=resolver, allowed=treating_as_public(STAND_IN_PUBLIC))
    yield opened
    await opened.close()


def refused_targets(receiver: WebhookReceiver) -> list[str]:
    port = receiver.port
    return [
        receiver.url,  # http://127.0.0.1:<port>/hook
        f"http://localhost:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        f"http://rebound.test:{port}/hook",  # a name that now resolves to loopback (DNS rebinding)
        f"http://intranet.test:{port}/hook",  # a name resolving to 10.x
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
    ]


async def test_private_targets_are_refused_without_a_connection(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    channel = QuickWebhook(session)
    for url in refused_targets(receiver):
        # Permanent: no retry changes what an address is, so the delivery moves to the next way at once.
        with pytest.raises(PermanentError) as failure:
            await channel.send(WayTarget("webhook", url, SECRET), DELIVERY)
        refused = refusal(failure.value)
        assert refused is not None and "is not a public address" in str(refused), (url, failure.value)
    assert receiver.requests == []


async def test_a_bark_server_on_a_private_address_is_refused(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    bark = BarkChannel(session, default_server="https://api.day.app")
    for server in (f"http://127.0.0.1:{receiver.port}", "http://169.254.169.254", "http://intranet.test"):
        with pytest.raises(PermanentError) as failure:
            await bark.send(WayTarget("bark", "device-key", server=server), DELIVERY)
        assert refusal(failure.value) is not None, failure.value
    assert receiver.requests == []


async def test_a_redirect_to_loopback_is_not_followed(
    receiver: WebhookReceiver, redirector: str, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError, match="webhook answered 307"):
        await QuickWebhook(session).send(WayTarget("webhook", redirector, SECRET), DELIVERY)
    # Even a caller that follows redirects gets no further than the guard.
    with pytest.raises(aiohttp.ClientConnectorError) as failure:
        await session.post(redirector, data=b"{}", allow_redirects=True)
    assert refusal(failure.value) is not None
    assert receiver.requests == []


async def test_allowing_private_targets_reaches_them(receiver: WebhookReceiver) -> None:
    opened = open_session(Settings(allow_private_targets=True))
    try:
        result = await QuickWebhook(opened).send(WayTarget("webhook", receiver.url, SECRET), DELIVERY)
    finally:
        await opened.close()
    assert result.way == "webhook"
    (received,) = receiver.requests
    assert received.signature_valid and received.body["id"] == DELIVERY.message_id


async def test_the_operators_bark_server_is_trusted_on_its_port_only(receiver: WebhookReceiver) -> None:
    opened = open_session(Settings(bark_server=f"http://127.0.0.1:{receiver.port}"))
    other = free_port()
    try:
        await QuickWebhook(opened).send(WayTarget("webhook", receiver.url, SECRET), DELIVERY)
        with pytest.raises(PermanentError) as failure:
            await QuickWebhook(opened).send(
                WayTarget("webhook", f"http://127.0.0.1:{other}/hook", SECRET), DELIVERY
            )
        assert refusal(failure.value) is not None
    finally:
        await opened.close()
    assert len(receiver.requests) == 1


# -- the channel processes of a split deployment ---------------------------------------------------------


async def consumer_counts(amqp_url: str, exchange: str, queues: list[str]) -> dict[str, int]:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        counts = {}
        for queue in queues:
            declared = await channel.declare_queue(f"{exchange}.{queue}", passive=True)
            result = declared.declaration_result
            counts[queue] = int(result.consumer_count or 0)
        return counts
    finally:
        await connection.close()


QUEUES = ["dispatcher.accepted", "dispatcher.deliver.webhook", "dispatcher.deliver.bark"]


async def test_a_channel_process_delivers_beside_a_router_process(
    tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str, receiver: WebhookReceiver
) -> None:
    exchange = f"igot-{namespace}"
    env = base_env(tmp_path, **distributed_settings(amqp_url, mongo_url, namespace), bus_retry_delays="[0.2]")
    deployment = Deployment(env=env, gateway_url="", auth_url="", workdir=tmp_path)
    deployment.cli("migrate")

    def run(name: str, *args: str) -> Process:
        process = start(name, ["serve", *args], env, tmp_path, free_port())
        deployment.processes.append(process)
        return process

    try:
        for process in (run("gateway", "gateway"), run("webhook", "dispatcher", "--channel", "webhook")):
            await wait_ready(process)
        deployment.gateway_url = deployment.processes[0].url
        # The channel process consumes its way's queue, and nothing else.
        counts = await consumer_counts(amqp_url, exchange, QUEUES)
        assert counts == {
            "dispatcher.accepted": 0,
            "dispatcher.deliver.webhook": 1,
            "dispatcher.deliver.bark": 0,
        }
        await wait_ready(run("router", "dispatcher", "--router-only"))
        counts = await consumer_counts(amqp_url, exchange, QUEUES)
        assert counts == {
            "dispatcher.accepted": 1,
            "dispatcher.deliver.webhook": 1,
            "dispatcher.deliver.bark": 0,
        }

        user = deployment.cli_json("user", "create", "--email", "split@example.com")
        await bind_webhook(deployment, user["id"], receiver.url)
        async with aiohttp.ClientSession() as client:
            status, answer = await get_json(client, f"{deployment.gateway_url}/{user['key']}/hello")
        assert (status, answer["ret"]) == (200, 0), answer
        await eventually(lambda: len(receiver.requests) == 1, timeout=30, what="the webhook request")
        (received,) = receiver.requests
        assert received.signature_valid and received.body["id"] == answer["data"]["id"]
        assert received.body["content"] == "hello"
    finally:
        exit_codes = deployment.stop()
        drop_database(mongo_url, namespace)
        await remove_broker_namespace(amqp_url, exchange, (0.2,))
    assert exit_codes == dict.fromkeys(exit_codes, 0), deployment.logs()
