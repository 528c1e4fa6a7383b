"""Moderation of group pushes, in both run modes, as the sender, a subscriber and an operator see it.

A push through a group link is checked before anyone receives it: a lexicon word rejects it (the sender's
status query answers ret 206 with the category, `checked: 1`, no subscriber entry), a clean one is
delivered (`checked: 2`); a push with one's own key is never checked. A remote provider answering
`review` holds the message for an operator, who approves (delivered) or rejects it (never delivered);
while the provider is down the configured policy decides: hold (delivered once it recovers, without a
restart), pass, or reject as `unchecked`. A lexicon reload (the file changed, or the operator's
broadcast) applies to the next message, and messages already queued are neither lost nor doubled. In
distributed mode, group pushes wait in their queue while no moderation process runs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import aio_pika
import aiohttp
import pytest

from igot.runtime import declare_topology, open_bus
from services.moderation import decisions
from shared.bus import Bus
from shared.data import messages, moderation_reviews
from shared.messages.moderation import ModerationReloadV1
from shared.settings import Settings
from shared.store import Store
from tests.fakes.wechat_server import APPID, HTTP_500, SECRET, WeChatServer
from tests.integration.conftest import deployed
from tests.integration.processes import Deployment, free_port, start, wait_ready
from tests.integration.test_push_flow import sign_in
from tests.waiting import eventually

MODES = ["standalone", "distributed"]
LEXICON = "# words the moderation tests reject\n传销\tpyramid\nbadword\tillegal\n"
RELOADED = "moderation lexicon reloaded"


@dataclass
class Person:
    deployment: Deployment
    session: aiohttp.ClientSession
    id: str
    key: str  # their own push key
    token: str

    async def open(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        url = (
            f"{self.deployment.gateway_url if path.startswith('/open/message') else self.deployment.auth_url}"
        )
        async with self.session.request(
            method, f"{url}{path}", params={"token": self.token}, json=body if method == "POST" else None
        ) as response:
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer

    async def detail(self, message_id: str) -> dict[str, Any]:
        return await self.open("GET", f"/open/message/{message_id}")

    async def inbox(self) -> list[str]:
        """The contents in the inbox, newest first."""
        answer = await self.open("GET", "/open/message/?size=50")
        assert answer["ret"] == 0, answer
        return [shown["body"]["content"] for shown in answer["data"]["messages"]]


async def person(deployment: Deployment, session: aiohttp.ClientSession, email: str) -> Person:
    made = deployment.cli_json("user", "create", "--email", email)
    return Person(deployment, session, made["id"], made["key"], await sign_in(deployment, session, email))


async def push(person: Person, key: str, content: str, **fields: str) -> str:
    async with person.session.post(
        f"{person.deployment.gateway_url}/{key}", json={"content": content, **fields}
    ) as response:
        answer = await response.json()
        assert (response.status, answer["ret"]) == (200, 0), answer
        message_id: str = answer["data"]["id"]
        return message_id


async def group_of(creator: Person, *subscribers: Person) -> str:
    """A new group link of `creator`'s, each subscriber subscribed (weakly: the inbox is the delivery);
    its push key."""
    made = await creator.open("POST", "/open/link/group", {"name": "news", "open": True})
    for subscriber in subscribers:
        answer = await subscriber.open("POST", f"/open/subscription/{made['data']['id']}", {"strong": False})
        assert answer["ret"] == 0, answer
    key: str = made["data"]["key"]
    return key


async def checked(creator: Person, message_id: str, state: int) -> bool:
    return bool((await creator.detail(message_id))["data"]["message"].get("checked") == state)


async def wait_checked(creator: Person, message_id: str, state: int, timeout: float = 30.0) -> dict[str, Any]:
    await eventually(lambda: checked(creator, message_id, state), timeout=timeout, what=f"checked: {state}")
    return await creator.detail(message_id)


def settings_of(deployment: Deployment) -> Settings:
    with mock.patch.dict(os.environ, deployment.env, clear=True):
        return Settings()


@asynccontextmanager
async def operator(deployment: Deployment) -> AsyncIterator[tuple[Store, Bus]]:
    """The deployment's store and bus, opened from this process as the admin CLI opens them."""
    settings = settings_of(deployment)
    store = deployment.open_store()
    bus = open_bus(settings, settings.mode, store=store)
    await bus.start()
    await declare_topology(bus)
    try:
        yield store, bus
    finally:
        await bus.stop()
        await store.close()


def reloads(deployment: Deployment) -> int:
    """How many times the moderation process read its lexicon again so far (from its log)."""
    [process] = [p for p in deployment.processes if p.name in ("standalone", "moderation")]
    return process.log().count(RELOADED)


def lexicon_file(tmp_path: Path) -> Path:
    path = tmp_path / "lexicon.tsv"
    write_atomically(path, LEXICON)
    return path


def write_atomically(path: Path, text: str) -> None:
    """As an operator's tooling (or a ConfigMap) replaces it: never seen half written."""
    draft = path.with_suffix(".draft")
    draft.write_text(text, encoding="utf-8")
    os.replace(draft, path)


@pytest.mark.parametrize("mode", MODES)
async def test_group_pushes_are_checked_and_own_keys_are_not(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    lexicon = lexicon_file(tmp_path)
    # Only the operator's broadcast makes this deployment read its file again.
    settings = {"moderation_lexicon": str(lexicon), "moderation_lexicon_poll_seconds": "3600"}
    async with (
        deployed(mode, tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
        aiohttp.ClientSession() as session,
    ):
        creator = await person(deployment, session, "creator@example.com")
        reader = await person(deployment, session, "reader@example.com")
        key = await group_of(creator, reader)

        rejected = await push(creator, key, "join our 传销 team today", title="offer")
        answer = await wait_checked(creator, rejected, messages.CHECK_REJECTED)
        assert (answer["ret"], answer["errMsg"]) == (206, "rejected by moderation: pyramid"), answer
        shown = answer["data"]["message"]
        assert shown["moderation"] == {"verdict": "reject", "category": "pyramid"}
        assert (shown["body"]["title"], shown["body"]["content"]) == ("offer", "join our 传销 team today")
        assert shown["delivery"]["status"] == "rejected"
        evasive = await push(creator, key, "hello", title="B.A.D w o r d")
        answer = await wait_checked(creator, evasive, messages.CHECK_REJECTED)
        assert answer["errMsg"] == "rejected by moderation: illegal"

        clean = await push(creator, key, "all clear", title="status")
        answer = await wait_checked(creator, clean, messages.CHECK_PASSED)
        assert answer["ret"] == 0 and answer["data"]["message"]["moderation"] == {"verdict": "pass"}
        await eventually(lambda: _holds(reader, ["all clear"]), what="the clean push delivered")

        # The sender's own key is not third-party traffic: delivered as sent, never checked.
        await push(creator, creator.key, "my own badword note")
        await eventually(lambda: _holds(creator, ["my own badword note"]), what="the own-key push")
        store = deployment.open_store()
        try:
            [own] = await store.collection(messages.COLLECTION).find({"keyKind": "fixed"})
            assert "checked" not in own and "moderation" not in own
            assert await moderation_reviews.list_reviews(store, status=None) == ([], 0)
        finally:
            await store.close()

        # A word added to the file counts only once the operator says so, from the next message on;
        # the pushes queued meanwhile all arrive, once each.
        before = await push(creator, key, "a newword before the reload")
        await wait_checked(creator, before, messages.CHECK_PASSED)
        queued = [await push(creator, key, f"queued {n}") for n in range(10)]
        write_atomically(lexicon, LEXICON + "newword\tgambling\n")
        async with operator(deployment) as (_, bus):
            seen = reloads(deployment)
            await bus.publish(ModerationReloadV1(requested_by="test"))
            await eventually(lambda: reloads(deployment) > seen, what="the lexicon reloaded")
        after = await push(creator, key, "a newword after the reload")
        answer = await wait_checked(creator, after, messages.CHECK_REJECTED)
        assert answer["errMsg"] == "rejected by moderation: gambling"
        for message_id in queued:
            await wait_checked(creator, message_id, messages.CHECK_PASSED)
        expected = [*(f"queued {n}" for n in reversed(range(10))), "a newword before the reload", "all clear"]
        await eventually(lambda: _holds(reader, expected), what="every queued push delivered once")


@pytest.mark.parametrize("mode", MODES)
async def test_a_changed_lexicon_file_is_read_without_a_restart(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    lexicon = lexicon_file(tmp_path)
    settings = {"moderation_lexicon": str(lexicon), "moderation_lexicon_poll_seconds": "0.2"}
    async with (
        deployed(mode, tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
        aiohttp.ClientSession() as session,
    ):
        creator = await person(deployment, session, "creator@example.com")
        reader = await person(deployment, session, "reader@example.com")
        key = await group_of(creator, reader)
        queued = [await push(creator, key, f"queued {n}") for n in range(10)]
        seen = reloads(deployment)
        write_atomically(lexicon, LEXICON + "lotto\tgambling\n")
        await eventually(lambda: reloads(deployment) > seen, what="the changed file read")
        answer = await wait_checked(
            creator, await push(creator, key, "win the LOTTO"), messages.CHECK_REJECTED
        )
        assert answer["errMsg"] == "rejected by moderation: gambling"

        # A file that no longer parses keeps the lexicon in force.
        write_atomically(lexicon, "a line without a category\n")
        await eventually(lambda: _logged(deployment, "moderation lexicon not reloaded"), what="the bad file")
        answer = await wait_checked(creator, await push(creator, key, "lotto again"), messages.CHECK_REJECTED)
        assert answer["errMsg"] == "rejected by moderation: gambling"
        for message_id in queued:
            await wait_checked(creator, message_id, messages.CHECK_PASSED)
        expected = [f"queued {n}" for n in reversed(range(10))]
        await eventually(lambda: _holds(reader, expected), what="every queued push delivered once")


@pytest.fixture
async def wechat() -> AsyncIterator[WeChatServer]:
    server = WeChatServer(verdicts={"maybe": ("review", 20001), "awful": ("risky", 20002)})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def remote_settings(wechat: WeChatServer, policy: str, tmp_path: Path) -> dict[str, str]:
    return {
        "moderation_lexicon": str(lexicon_file(tmp_path)),
        "moderation_remote": "wechat",
        "moderation_remote_down_policy": policy,
        "moderation_remote_timeout_seconds": "2",
        "moderation_wechat_api_base": wechat.url,
        "moderation_wechat_appid": APPID,
        "moderation_wechat_secret": SECRET,
        "moderation_wechat_openid": "o-moderation",
    }


def checks_of(wechat: WeChatServer, content: str) -> int:
    return sum(1 for call in wechat.calls.sec_checks if content in call.body.get("content", ""))


@pytest.mark.parametrize("mode", MODES)
async def test_the_remote_provider_holds_for_review_and_its_outage_holds_too(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str, wechat: WeChatServer
) -> None:
    async with (
        deployed(
            mode, tmp_path, amqp_url, mongo_url, namespace, **remote_settings(wechat, "hold", tmp_path)
        ) as deployment,
        aiohttp.ClientSession() as session,
        operator(deployment) as (store, bus),
    ):
        creator = await person(deployment, session, "creator@example.com")
        reader = await person(deployment, session, "reader@example.com")
        key = await group_of(creator, reader)

        answer = await wait_checked(
            creator, await push(creator, key, "awful things"), messages.CHECK_REJECTED
        )
        assert answer["errMsg"] == "rejected by moderation: porn"

        held = await push(creator, key, "maybe tomorrow", title="plans")
        review_id = moderation_reviews.review_id(held, "content")

        async def reviewed() -> bool:
            shown = (await creator.detail(held))["data"]["message"]
            return bool(shown.get("moderation") == {"verdict": "review", "category": "politics"})

        await eventually(reviewed, what="the push held for review")
        assert (await creator.detail(held))["data"]["message"]["checked"] == messages.CHECK_PENDING
        listed, count = await moderation_reviews.list_reviews(store)
        assert count == 1 and [(r.id, r.kind, r.status) for r in listed] == [(review_id, "content", "open")]
        assert (listed[0].reason, listed[0].category) == ("remote: review (politics)", "politics")
        approved = await decisions.approve(store, bus, review_id, by="alice")
        assert approved is not None and (approved.status, approved.decided_by) == ("approved", "alice")
        answer = await wait_checked(creator, held, messages.CHECK_PASSED)
        assert answer["data"]["message"]["moderation"] == {"verdict": "pass"}
        await eventually(lambda: _holds(reader, ["maybe tomorrow"]), what="the approved push delivered")
        assert await decisions.reject(store, bus, review_id, by="bob") is None  # decided already
        assert await decisions.approve(store, bus, review_id, by="alice") is not None  # a repeat: no change

        second = await push(creator, key, "maybe never")
        await eventually(
            lambda: _review_open(store, moderation_reviews.review_id(second, "content")), what="a review"
        )
        await decisions.reject(store, bus, moderation_reviews.review_id(second, "content"), by="alice")
        answer = await wait_checked(creator, second, messages.CHECK_REJECTED)
        assert (answer["ret"], answer["errMsg"]) == (206, "rejected by moderation: politics")

        # The provider goes down: a push waits (checked again and again), delivered once it is back.
        wechat.otherwise = HTTP_500
        waiting = await push(creator, key, "sent during the outage")
        await eventually(lambda: checks_of(wechat, "during the outage") >= 3, what="the check retried")
        shown = (await creator.detail(waiting))["data"]["message"]
        assert shown["checked"] == messages.CHECK_PENDING and "moderation" not in shown
        assert await reader.inbox() == ["maybe tomorrow"]
        wechat.otherwise = 0
        await wait_checked(creator, waiting, messages.CHECK_PASSED)
        await eventually(
            lambda: _holds(reader, ["sent during the outage", "maybe tomorrow"]), what="delivered after"
        )


@pytest.mark.parametrize("policy", ["pass", "reject"])
async def test_a_provider_outage_follows_the_configured_policy(
    policy: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str, wechat: WeChatServer
) -> None:
    wechat.otherwise = HTTP_500
    settings = remote_settings(wechat, policy, tmp_path)
    async with (
        deployed("standalone", tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
        aiohttp.ClientSession() as session,
    ):
        creator = await person(deployment, session, "creator@example.com")
        reader = await person(deployment, session, "reader@example.com")
        key = await group_of(creator, reader)
        message_id = await push(creator, key, "sent while the provider is down")
        # The lexicon still counts whatever the policy.
        answer = await wait_checked(creator, await push(creator, key, "badword"), messages.CHECK_REJECTED)
        assert answer["errMsg"] == "rejected by moderation: illegal"
        if policy == "pass":
            await wait_checked(creator, message_id, messages.CHECK_PASSED)
            await eventually(lambda: _holds(reader, ["sent while the provider is down"]), what="delivery")
        else:
            answer = await wait_checked(creator, message_id, messages.CHECK_REJECTED)
            assert answer["errMsg"] == "rejected by moderation: unchecked"
            assert await reader.inbox() == []


async def test_group_pushes_wait_in_their_queue_while_moderation_is_down(
    tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    async with (
        deployed("distributed", tmp_path, amqp_url, mongo_url, namespace) as deployment,
        aiohttp.ClientSession() as session,
    ):
        creator = await person(deployment, session, "creator@example.com")
        reader = await person(deployment, session, "reader@example.com")
        key = await group_of(creator, reader)
        [moderation] = [p for p in deployment.processes if p.name == "moderation"]
        assert moderation.stop() == 0
        deployment.processes.remove(moderation)

        waiting = await push(creator, key, "while moderation is down")
        queue = f"{deployment.env['IGOT_BUS_EXCHANGE']}.moderation.group"
        await eventually(lambda: _queued(amqp_url, queue, 1), what="the push in the moderation queue")
        shown = (await creator.detail(waiting))["data"]["message"]
        assert shown["checked"] == messages.CHECK_PENDING and shown["fanout"]["recipients"] == 0
        assert await reader.inbox() == []

        again = start("moderation-2", ["serve", "moderation"], deployment.env, tmp_path, free_port())
        deployment.processes.insert(-1, again)
        await wait_ready(again)
        await wait_checked(creator, waiting, messages.CHECK_PASSED)
        await eventually(lambda: _holds(reader, ["while moderation is down"]), what="delivered after restart")


async def _holds(person: Person, contents: list[str]) -> bool:
    """The inbox holds these contents, each as often as listed (in any order: pushes accepted within one
    millisecond have no order between them)."""
    return sorted(await person.inbox()) == sorted(contents)


def _logged(deployment: Deployment, event: str) -> bool:
    return any(event in process.log() for process in deployment.processes)


async def _review_open(store: Store, review_id: str) -> bool:
    review = await moderation_reviews.get(store, review_id)
    return review is not None and review.status == "open"


async def _queued(amqp_url: str, queue: str, count: int) -> bool:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count == count
    finally:
        await connection.close()
