"""The remote content check against the fake WeChat API (msgSecCheck v2), on both store adapters.

Verdicts and their labels, long texts in pieces where the worst piece wins, the access token shared
through the store and renewed when WeChat refuses it, every way the provider can fail (each a
`RemoteCheckUnavailable`, never a hang), and the settings that build a checker or none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from services.moderation.remote import (
    RemoteChecker,
    RemoteCheckerConfigError,
    RemoteCheckUnavailable,
    RemoteVerdict,
    remote_checker_from_settings,
    text_pieces,
)
from shared.data import wechat_tokens
from shared.settings import Settings
from shared.store import Store
from tests.fakes.scripted import HANG, Answer
from tests.fakes.wechat_server import APPID, GARBAGE, HTTP_500, SECRET, WeChatServer
from tests.integration.processes import free_port

MINI_APPID = "wxfedcba9876543210"
MINI_SECRET = "fake-mini-program-secret-0123456789"
OPENID = "o4Gq35Nv0ePnKdRzYjXwL8mTsUaB"
VERDICTS = {
    "赌场": ("risky", 20006),
    "代开发票": ("risky", 20008),
    "加微信": ("review", 10001),
    "奇怪词": ("review", 29999),  # a label WeChat may add later
}
TIMEOUT = 0.5


def settings_for(api_base: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "moderation_remote": "wechat",
        "moderation_remote_timeout_seconds": TIMEOUT,
        "moderation_wechat_api_base": api_base,
        "moderation_wechat_appid": MINI_APPID,
        "moderation_wechat_secret": MINI_SECRET,
        "moderation_wechat_openid": OPENID,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Rig:
    store: Store
    server: WeChatServer
    checker: RemoteChecker

    def another_process(self) -> RemoteChecker:
        """A second checker sharing only the store, as another moderation process would."""
        checker = remote_checker_from_settings(settings_for(self.server.url), store=self.store)
        assert checker is not None
        return checker


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    server = WeChatServer(appid=MINI_APPID, secret=MINI_SECRET, verdicts=VERDICTS, visitors={OPENID})
    await server.start()
    checker = remote_checker_from_settings(settings_for(server.url), store=store)
    assert checker is not None
    try:
        yield Rig(store, server, checker)
    finally:
        await checker.close()
        server.release()
        await server.stop()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今晚八点发布会 欢迎收看", RemoteVerdict("pass", 100, "normal", "wechat")),
        ("想要优惠请加微信 abc123", RemoteVerdict("review", 10001, "ads", "wechat")),
        ("新开赌场 注册就送", RemoteVerdict("risky", 20006, "illegal", "wechat")),
        ("专业代开发票", RemoteVerdict("risky", 20008, "fraud", "wechat")),
        ("一个奇怪词", RemoteVerdict("review", 29999, "other", "wechat")),
    ],
)
async def test_each_verdict_comes_back_with_its_label_and_category(
    rig: Rig, text: str, expected: RemoteVerdict
) -> None:
    assert await rig.checker.check(text) == expected
    [request] = rig.server.calls.sec_checks
    assert request.body == {"content": text, "version": 2, "scene": 3, "openid": OPENID}
    assert text.encode() in request.raw  # UTF-8 as it is: WeChat does not read \u escapes
    assert request.access_token == rig.server.issued[-1].token


async def test_the_title_is_checked_with_the_text(rig: Rig) -> None:
    verdict = await rig.checker.check("周末活动通知", title="新开赌场")
    assert verdict.suggest == "risky" and verdict.category == "illegal"
    assert rig.server.calls.sec_checks[0].body["title"] == "新开赌场"
    # Nothing to read makes no request and passes.
    assert (await rig.checker.check("  ")).suggest == "pass"
    assert len(rig.server.calls.sec_checks) == 1


async def test_a_long_text_is_checked_in_pieces_and_the_worst_piece_wins(rig: Rig) -> None:
    filler = "这是一条很长的群发消息。"  # 12 characters
    text = filler * 150 + "想要优惠请加微信" + filler * 150 + "新开赌场" + filler * 150
    verdict = await rig.checker.check(text, title="月报")
    assert verdict == RemoteVerdict("risky", 20006, "illegal", "wechat")
    contents = [request.body["content"] for request in rig.server.calls.sec_checks]
    assert len(contents) == 3 and all(len(content) <= 2500 for content in contents)
    # Consecutive pieces: together they are the text, each beginning where the one before it ends.
    assert set(contents) == set(text_pieces(text, limit=2500, overlap=50))
    assert sum("title" in request.body for request in rig.server.calls.sec_checks) == 1

    # A risky phrase cut by a piece boundary is still seen whole in one piece.
    straddling = "安" * 2499 + "赌场" + "安" * 10  # 赌 ends the first piece, 场 begins the next
    assert (await rig.checker.check(straddling)).suggest == "risky"
    # Characters outside the BMP count twice toward the limit, as a UTF-16 counter sees them.
    emoji = "😀" * 2000
    assert (await rig.checker.check(emoji)).suggest == "pass"
    assert all(len(request.body["content"]) <= 1250 for request in rig.server.calls.sec_checks[-2:])


async def test_a_risky_piece_settles_the_text_even_when_another_piece_failed(rig: Rig) -> None:
    risky_twice = "新开赌场" + "安" * 2600 + "新开赌场"
    rig.server.script = [-1]
    assert (await rig.checker.check(risky_twice)).suggest == "risky"

    rig.server.script = [-1]
    with pytest.raises(RemoteCheckUnavailable, match="-1"):
        await rig.checker.check("安" * 2600)  # the piece that was answered passed: no verdict


async def test_the_access_token_is_shared_through_the_store_and_renewed_when_refused(rig: Rig) -> None:
    await rig.checker.check("第一条")
    assert len(rig.server.calls.token_requests) == 1
    saved = await wechat_tokens.get_latest(rig.store, MINI_APPID)
    assert saved is not None and saved["token"] == rig.server.issued[-1].token

    other = rig.another_process()
    try:
        await other.check("第二条")
        assert len(rig.server.calls.token_requests) == 1  # read from the store, not asked for again

        # WeChat lets the token expire early: the check is refused (42001), renewed once, made again.
        rig.server.expire_tokens()
        assert (await other.check("第三条")).suggest == "pass"
    finally:
        await other.close()
    assert len(rig.server.calls.token_requests) == 2
    answered = rig.server.calls.sec_checks  # refused requests are not recorded
    assert [request.body["content"] for request in answered] == ["第一条", "第二条", "第三条"]
    assert answered[2].access_token != answered[1].access_token
    # The first process meets the refusal too and picks up the renewed token from the store.
    assert (await rig.checker.check("第四条")).suggest == "pass"
    assert len(rig.server.calls.token_requests) == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (-1, "answered -1"),  # system busy
        (HTTP_500, "HTTP 500"),
        (GARBAGE, "not its JSON"),
        (40003, "openid is not valid"),
        (43104, "not one of this mini program's users"),
        (48001, "may not call msgSecCheck"),
        (45009, "answered 45009"),
    ],
)
async def test_a_provider_failure_is_unavailable(rig: Rig, answer: Answer, reason: str) -> None:
    rig.server.otherwise = answer
    with pytest.raises(RemoteCheckUnavailable, match=reason) as raised:
        await rig.checker.check("今晚八点发布会")
    assert raised.value.provider == "wechat"
    rig.server.otherwise = 0
    assert (await rig.checker.check("今晚八点发布会")).suggest == "pass"  # and it recovers


async def test_a_provider_that_hangs_is_unavailable_after_the_timeout(rig: Rig) -> None:
    rig.server.script = [HANG]
    with pytest.raises(RemoteCheckUnavailable, match=r"no answer within 0\.5s"):
        await rig.checker.check("今晚八点发布会")
    assert len(rig.server.calls.sec_checks) == 1  # it reached WeChat, which never answered


async def test_an_openid_wechat_no_longer_takes_is_unavailable(rig: Rig) -> None:
    rig.server.visitors = {"someone-else"}
    with pytest.raises(RemoteCheckUnavailable, match=r"61010.*opened the mini program"):
        await rig.checker.check("今晚八点发布会")


async def test_wrong_credentials_are_unavailable_and_leave_no_renewal_behind(rig: Rig) -> None:
    rig.server.secret = "another secret"
    with pytest.raises(RemoteCheckUnavailable, match="40125"):
        await rig.checker.check("今晚八点发布会")
    rig.server.secret = MINI_SECRET
    assert (await rig.checker.check("今晚八点发布会")).suggest == "pass"


async def test_a_provider_that_cannot_be_reached_is_unavailable(store: Store) -> None:
    checker = remote_checker_from_settings(settings_for(f"http://127.0.0.1:{free_port()}"), store=store)
    assert checker is not None
    try:
        with pytest.raises(RemoteCheckUnavailable, match="unreachable"):
            await checker.check("今晚八点发布会")
    finally:
        await checker.close()


async def test_without_its_own_appid_the_checker_uses_the_official_account(store: Store) -> None:
    server = WeChatServer(verdicts=VERDICTS)  # the official account's appid and secret
    await server.start()
    settings = settings_for(
        "",
        wechat_api_base=server.url,
        wechat_appid=APPID,
        wechat_secret=SECRET,
        moderation_wechat_appid="",
        moderation_wechat_secret="",
    )
    checker = remote_checker_from_settings(settings, store=store)
    assert checker is not None
    try:
        assert (await checker.check("新开赌场")).suggest == "risky"
        assert server.calls.token_requests[0]["appid"] == APPID
        assert await wechat_tokens.get_latest(store, APPID) is not None  # the account's one token
    finally:
        await checker.close()
        await server.stop()


async def test_no_remote_checker_by_default(store: Store) -> None:
    assert Settings().moderation_remote == ""
    assert remote_checker_from_settings(Settings(moderation_remote=""), store=store) is None


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"moderation_wechat_openid": ""}, "IGOT_MODERATION_WECHAT_OPENID"),
        ({"moderation_wechat_secret": ""}, "go together"),
        ({"moderation_wechat_appid": "", "moderation_wechat_secret": ""}, "IGOT_WECHAT_APPID"),
        ({"moderation_wechat_api_base": "api.weixin.qq.com"}, "not an http"),
    ],
)
async def test_incomplete_settings_are_refused_at_start(
    store: Store, overrides: dict[str, Any], named: str
) -> None:
    settings = settings_for("https://api.weixin.qq.com", wechat_appid="", **overrides)
    with pytest.raises(RemoteCheckerConfigError, match=named):
        remote_checker_from_settings(settings, store=store)
