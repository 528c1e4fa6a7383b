"""The Bark channel against a local server that answers like Bark's: the wire format and how answers count.

One table of (delivery, scripted answer, expected outcome) run by one runner, then what the table
cannot say: the exact body, cut texts, the server taken from the target, unreachable servers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
import pytest

from services.dispatcher.channels.bark import BarkChannel, fit
from services.dispatcher.channels.base import Delivery, DeliveryResult
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, ThrottledError, TransientError
from shared.messages.push import MessageBody
from shared.outbound import TargetRefusedError
from tests.fakes.bark_server import HANG, NOT_BARK, Answer, BarkServer
from tests.integration.processes import free_port

DEVICE = "F8QhQ3kVvue9XyHEJXQZ"
DELIVERY = Delivery(
    message_id="6b0b0d97ad536848af03b404",
    body=MessageBody(
        title="Deploy", content="build 42 is live", url="https://ci.example.com/42", copyText="42"
    ),
    app="iGot",
    created_at=1575017083430,
    source="ci",
)


class QuickBark(BarkChannel):
    total_timeout: ClassVar[float] = 0.5


@dataclass(frozen=True)
class Case:
    name: str
    answer: Answer
    outcome: type[Exception] | None  # None: delivered
    delivery: Delivery = DELIVERY
    device: str = DEVICE
    expect: dict[str, Any] = field(default_factory=dict)  # fields the push must carry
    absent: tuple[str, ...] = ()  # fields it must leave out


CASES = [
    Case("delivered", 200, None),
    Case("unknown device key", 200, PermanentError, device="not-registered"),
    Case("bad device key (400)", 400, PermanentError),
    Case("basic auth refused (418)", 418, PermanentError),
    Case("throttled (429)", 429, ThrottledError),
    Case("Apple unreachable (500)", 500, TransientError),
    Case("server busy (503)", 503, TransientError),
    Case("redirect not followed", 302, PermanentError),
    Case("not a Bark server", NOT_BARK, PermanentError),
    Case("hangs", HANG, TransientError),
    Case(
        "group is the app when named",
        200,
        None,
        delivery=Delivery("m", MessageBody(content="c"), app="Builds", created_at=0, source="ci"),
        expect={"group": "Builds", "autoCopy": "1"},
    ),
    Case(
        "no copy unless asked",
        200,
        None,
        delivery=Delivery("m", MessageBody(content="c", automaticallyCopy=0), app="iGot", created_at=0),
        expect={"group": "iGot", "body": "c"},
        absent=("autoCopy", "copy", "title", "url", "icon"),
    ),
]


@pytest.fixture
async def bark() -> AsyncIterator[BarkServer]:
    server = BarkServer(devices={DEVICE})
    await server.start()
    yield server
    server.release()
    await server.stop()


@pytest.fixture
async def channel(bark: BarkServer) -> AsyncIterator[BarkChannel]:
    async with aiohttp.ClientSession() as session:
        yield QuickBark(session, default_server="http://127.0.0.1:1")


def target(bark: BarkServer, device: str = DEVICE) -> WayTarget:
    return WayTarget("bark", device, server=bark.url)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_answers(bark: BarkServer, channel: BarkChannel, case: Case) -> None:
    bark.script = [case.answer]
    if case.outcome is None:
        result = await channel.send(target(bark, case.device), case.delivery)
        assert result == DeliveryResult(way="bark")
    else:
        with pytest.raises(case.outcome) as raised:
            await channel.send(target(bark, case.device), case.delivery)
        assert type(raised.value) is case.outcome
    (push,) = bark.pushes  # never retried inside the channel, never redirected
    assert push.body["device_key"] == case.device
    assert case.expect.items() <= push.body.items()
    assert not set(case.absent) & set(push.body)


async def test_the_wire_format(bark: BarkServer, channel: BarkChannel) -> None:
    await channel.send(target(bark), DELIVERY)
    (push,) = bark.pushes
    assert push.path == "/push" and push.content_type == "application/json"
    assert push.body == {
        "device_key": DEVICE,
        "title": "Deploy",
        "body": "build 42 is live",
        "url": "https://ci.example.com/42",
        "copy": "42",
        "autoCopy": "1",
        "group": "ci",
        "level": "active",
    }


async def test_icon_and_the_server_of_the_target(bark: BarkServer) -> None:
    async with aiohttp.ClientSession() as session:
        channel = BarkChannel(session, default_server=bark.url, icon="https://igot.example.com/icon.png")
        await channel.send(WayTarget("bark", DEVICE), DELIVERY)  # no server of its own: the default
        await channel.send(WayTarget("bark", DEVICE, server=f"{bark.url}/bark/"), DELIVERY)  # self-hosted
    assert [push.path for push in bark.pushes] == ["/push", "/bark/push"]
    assert bark.pushes[0].body["icon"] == "https://igot.example.com/icon.png"


async def test_texts_are_cut_to_what_one_push_holds(bark: BarkServer, channel: BarkChannel) -> None:
    long = Delivery(
        "m",
        MessageBody(
            title="题" * 200, content="内容" * 2000, url="https://x/" + "a" * 600, copyText="c" * 900
        ),
        app="iGot",
        created_at=0,
    )
    await channel.send(target(bark), long)
    body = bark.pushes[0].body
    assert len(body["title"].encode()) <= BarkChannel.max_title and body["title"].endswith("…")
    assert len(body["body"].encode()) <= BarkChannel.max_body and body["body"].startswith("内容内容")
    assert len(body["copy"].encode()) <= BarkChannel.max_copy
    assert "url" not in body  # a cut link leads nowhere
    assert len(json.dumps(body, ensure_ascii=False).encode()) < 4096
    assert fit("short", 10) == "short" and fit("€€€€", 7) == "€…"


async def test_unreachable_is_transient_and_a_bad_address_permanent(channel: BarkChannel) -> None:
    with pytest.raises(TransientError):
        await channel.send(WayTarget("bark", DEVICE, server=f"http://127.0.0.1:{free_port()}"), DELIVERY)
    with pytest.raises(PermanentError):
        await channel.send(WayTarget("bark", DEVICE, server="not a url"), DELIVERY)


class RefusingResolver(aiohttp.abc.AbstractResolver):
    """What the outbound guard does at connect time for a name that resolves to a private address."""

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[aiohttp.abc.ResolveResult]:
        raise TargetRefusedError(f"{host} is not a public address")

    async def close(self) -> None:
        return None


async def test_a_server_the_outbound_guard_refuses_fails_for_good() -> None:
    connector = aiohttp.TCPConnector(resolver=RefusingResolver())
    async with aiohttp.ClientSession(connector=connector) as session:
        channel = BarkChannel(session, default_server="https://bark.internal.example")
        with pytest.raises(PermanentError, match=r"bark\.internal\.example is not a public address"):
            await channel.send(WayTarget("bark", DEVICE), DELIVERY)
