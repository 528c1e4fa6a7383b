"""The webhook channel against a real local receiver: wire format, signature, and how answers count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import aiohttp
import pytest

from services.dispatcher.channels.base import Delivery
from services.dispatcher.channels.webhook import WebhookChannel, signature
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, ThrottledError, TransientError
from shared.messages.push import MessageBody
from tests.fakes.webhook_receiver import HANG, WebhookReceiver
from tests.integration.processes import free_port

SECRET = "k"
DELIVERY = Delivery(
    message_id="6b0b0d97ad536848af03b404",
    body=MessageBody(title="T", content="C", url="https://x", copyText="cp"),
    app="iGot",
    created_at=1575017083430,
    source="ci",
    topic="deploys",
    extra='{"detail":{"a":1}}',
)


class QuickWebhook(WebhookChannel):
    total_timeout: ClassVar[float] = 0.5


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    running = WebhookReceiver(SECRET)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def channel() -> AsyncIterator[WebhookChannel]:
    async with aiohttp.ClientSession() as session:
        yield QuickWebhook(session)


def target(receiver: WebhookReceiver, secret: str = SECRET) -> WayTarget:
    return WayTarget("webhook", receiver.url, secret)


async def test_a_signed_post_of_the_message(receiver: WebhookReceiver, channel: WebhookChannel) -> None:
    result = await channel.send(target(receiver), DELIVERY)
    assert result.way == "webhook"
    (received,) = receiver.requests
    assert received.signature_valid and received.timestamp.isdigit()
    assert received.body == {
        "id": "6b0b0d97ad536848af03b404",
        "title": "T",
        "content": "C",
        "url": "https://x",
        "copy": "cp",
        "extra": {"detail": {"a": 1}},
        "source": "ci",
        "topic": "deploys",
        "createTime": "2019-11-29T08:44:43.430Z",
    }
    assert signature("k", "1", b"{}") == signature("k", "1", b"{}") != signature("k", "2", b"{}")


async def test_a_wrong_secret_is_noticed_by_the_receiver(
    receiver: WebhookReceiver, channel: WebhookChannel
) -> None:
    await channel.send(target(receiver, "other"), DELIVERY)
    assert [request.signature_valid for request in receiver.requests] == [False]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (429, ThrottledError),
        (404, PermanentError),
        (410, PermanentError),
        (302, PermanentError),
        (500, TransientError),
        (503, TransientError),
        (HANG, TransientError),
    ],
)
async def test_answers_decide_the_failure_type(
    receiver: WebhookReceiver, channel: WebhookChannel, answer: int | str, error: type[Exception]
) -> None:
    receiver.script = [answer]
    with pytest.raises(error) as raised:
        await channel.send(target(receiver), DELIVERY)
    assert type(raised.value) is error
    assert len(receiver.requests) == 1  # never retried inside the channel, never redirected


async def test_unreachable_is_transient_and_no_secret_is_permanent(channel: WebhookChannel) -> None:
    with pytest.raises(TransientError):
        await channel.send(WayTarget("webhook", f"http://127.0.0.1:{free_port()}/hook", SECRET), DELIVERY)
    with pytest.raises(PermanentError):
        await channel.send(WayTarget("webhook", "http://127.0.0.1:1/hook", None), DELIVERY)
    with pytest.raises(PermanentError):
        await channel.send(WayTarget("webhook", "not a url", SECRET), DELIVERY)
