"""The WeChat channel and the shared access token against the fake WeChat API, on both store adapters.

One table of (scripted errcode, expected outcome), then the template message itself, a follower who left
(the way unbound), and the access token: renewed at once when WeChat refuses it, by exactly one caller
among several processes sending at the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from services.dispatcher.channels.base import Delivery, DeliveryResult
from services.dispatcher.channels.wechat import WeChatChannel
from shared.data import push_ways
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, ThrottledError, TransientError
from shared.messages.push import MessageBody
from shared.store import Store
from shared.wechat.account import OfficialAccount
from shared.wechat.api import WeChatApi
from shared.wechat.token import AccessTokens
from tests.fakes.scripted import Answer
from tests.fakes.wechat_server import APPID, HTTP_500, SECRET, WeChatServer

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
TEMPLATE = "tmpl-0123456789"
DELIVERY = Delivery(
    message_id="6b0b0d97ad536848af03b404",
    body=MessageBody(title="Deploy", content="build 42 is live", url="https://ci.example.com/42"),
    app="iGot",
    created_at=1575017083430,
    source="ci",
)
TARGET = WayTarget(way="wechat", key=OPENID)


@dataclass
class Rig:
    store: Store
    server: WeChatServer
    session: aiohttp.ClientSession

    def tokens(self) -> AccessTokens:
        """A fresh token holder: another process of the deployment, sharing only the store."""
        api = WeChatApi(self.session, base_url=self.server.url)
        return AccessTokens(self.store, api, appid=APPID, secret=SECRET)

    def channel(self, tokens: AccessTokens | None = None) -> WeChatChannel:
        held = tokens or self.tokens()
        account = OfficialAccount(WeChatApi(self.session, base_url=self.server.url), held)

        async def forget(openid: str) -> int:
            return await push_ways.unbind_wechat_by_openid(self.store, openid)

        return WeChatChannel(
            account, template_id=TEMPLATE, public_url="https://igot.example.com", forget_recipient=forget
        )


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    server = WeChatServer()
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Rig(store, server, session)
    finally:
        server.release()
        await server.stop()


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (0, None),
        (43004, PermanentError),  # the follower left the account
        (40003, PermanentError),  # not an open id of this account
        (45009, ThrottledError),  # the account's daily quota
        (45047, ThrottledError),  # too many messages to one follower
        (-1, TransientError),  # system busy
        (HTTP_500, TransientError),
        (40037, PermanentError),  # a wrong template id
    ],
)
async def test_each_answer_counts_as_what_it_means(
    rig: Rig, answer: Answer, outcome: type[Exception] | None
) -> None:
    rig.server.script = [answer]
    channel = rig.channel()
    if outcome is None:
        result = await channel.send(TARGET, DELIVERY)
        assert result == DeliveryResult(way="wechat", provider_reference="1")
        return
    with pytest.raises(outcome) as raised:
        await channel.send(TARGET, DELIVERY)
    if outcome is ThrottledError:
        assert isinstance(raised.value, ThrottledError) and raised.value.retry_after > 0
    if outcome is TransientError:
        assert not isinstance(raised.value, ThrottledError)


async def test_the_template_message_carries_the_push(rig: Rig) -> None:
    await rig.channel().send(TARGET, DELIVERY)
    [sent] = rig.server.calls.sends
    assert sent.body == {
        "touser": OPENID,
        "template_id": TEMPLATE,
        "url": "https://ci.example.com/42",
        "data": {
            "title": {"value": "Deploy"},
            "content": {"value": "build 42 is live"},
            "time": {"value": "2019-11-29 16:44:43"},  # China Standard Time
            "source": {"value": "ci"},
        },
        "client_msg_id": DELIVERY.message_id,
    }
    long = Delivery(
        message_id="m2", body=MessageBody(title="t" * 100, content="c" * 500), app="My App", created_at=0
    )
    await rig.channel().send(TARGET, long)
    data = rig.server.calls.sends[-1].body["data"]
    assert data["content"]["value"] == "c" * 199 + "…"
    assert len(data["title"]["value"]) == WeChatChannel.max_title
    assert data["source"]["value"] == "My App"
    assert rig.server.calls.sends[-1].body["url"] == "https://igot.example.com/"  # no link: the inbox


async def test_a_follower_who_left_unbinds_the_way(rig: Rig) -> None:
    rig.server.followers = {"someone-else"}
    assert await push_ways.bind_wechat_verified(rig.store, "user-1", OPENID)
    with pytest.raises(PermanentError, match="43004"):
        await rig.channel().send(TARGET, DELIVERY)
    doc = await push_ways.get_for_user(rig.store, "user-1")
    assert doc is not None and doc["wechat"] == {"key": "", "status": 0}


async def test_a_refused_token_is_renewed_once_by_one_of_many_senders(rig: Rig) -> None:
    # Two processes, each with its own token holder, send at the same moment with nothing cached.
    first, second = rig.tokens(), rig.tokens()
    sends = [rig.channel(holder).send(TARGET, DELIVERY) for holder in (first, second) for _ in range(5)]
    await asyncio.gather(*sends)
    assert len(rig.server.calls.token_requests) == 1
    assert len(rig.server.calls.sends) == 10

    # WeChat lets the token expire early: every sender meets 42001, one renews, all send again.
    rig.server.expire_tokens()
    sends = [rig.channel(holder).send(TARGET, DELIVERY) for holder in (first, second) for _ in range(5)]
    results = await asyncio.gather(*sends)
    assert all(result.way == "wechat" for result in results)
    assert len(rig.server.calls.token_requests) == 2
    renewed = rig.server.calls.token_requests[1]
    assert renewed["force_refresh"] is False  # normal mode hands out WeChat's new token
    before = {send.access_token for send in rig.server.calls.sends[:10]}
    after = {send.access_token for send in rig.server.calls.sends[10:]}
    assert len(before) == len(after) == 1 and before != after  # refused sends are not recorded


async def test_a_token_wechat_keeps_refusing_is_forced_then_the_send_is_retried_later(rig: Rig) -> None:
    tokens = rig.tokens()
    await rig.channel(tokens).send(TARGET, DELIVERY)
    # WeChat refuses the token (40001) yet normal mode still hands it out: a new one is forced.
    stale = await tokens.current()
    rig.server.revoke_tokens()
    result = await rig.channel(tokens).send(TARGET, DELIVERY)
    assert result.way == "wechat"
    forced = rig.server.calls.token_requests[-1]
    assert forced["force_refresh"] is True
    assert await tokens.current() != stale


async def test_wrong_account_settings_fail_for_good_and_free_the_renewal(rig: Rig) -> None:
    rig.server.secret = "another secret"
    with pytest.raises(PermanentError, match="40125"):
        await rig.channel().send(TARGET, DELIVERY)
    rig.server.secret = SECRET
    await rig.channel().send(TARGET, DELIVERY)  # the failed renewal left no claim behind


async def test_an_unconfigured_channel_refuses_for_good() -> None:
    async def forget(openid: str) -> int:
        return 0

    channel = WeChatChannel(None, template_id="", public_url="http://x", forget_recipient=forget)
    with pytest.raises(PermanentError, match="not configured"):
        await channel.send(TARGET, DELIVERY)
