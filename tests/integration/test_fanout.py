"""Pushes to group links, in both run modes: the gateway accepts them durably, the fanout service expands
them to the subscribers by topic (none chosen: all), strong subscribers get them on their push ways too,
weak ones in the inbox only; a cancelled subscription gets nothing more, a closed link takes no pushes,
the creator sees the job's counters, and no subscriber's answer ever holds the push key. In distributed
mode a fanout process SIGKILLed mid-job is replaced and every subscriber ends with exactly one entry.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from services.fanout.expansion import Expansion
from shared.bus import Bus
from shared.data import fanout_jobs, fanout_rosters, inbox, push_ways, subscriptions
from shared.ids import new_id, now_ms
from shared.messages.group import FanoutPageV1, GroupMessageApprovedV1
from shared.store import Store
from tests.fakes.bark_server import BarkServer
from tests.integration.conftest import deployed
from tests.integration.processes import Deployment, free_port, start, wait_ready
from tests.integration.test_push_flow import sign_in
from tests.waiting import eventually

DEVICE = "fanout-device"


@dataclass
class User:
    """One signed-in user; every answer they get is kept, to look for the push key in."""

    deployment: Deployment
    session: aiohttp.ClientSession
    id: str
    token: str
    seen: list[str] = field(default_factory=list)

    async def call(self, method: str, url: str, body: Any = None) -> dict[str, Any]:
        async with self.session.request(
            method, url, params={"token": self.token}, json=body if method == "POST" else None
        ) as response:
            self.seen.append(await response.text())
            assert response.status == 200, self.seen[-1]
            answer: dict[str, Any] = await response.json()
            return answer

    async def auth(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        return await self.call(method, f"{self.deployment.auth_url}{path}", body if body is not None else {})

    async def inbox(self) -> list[dict[str, Any]]:
        answer = await self.call("GET", f"{self.deployment.gateway_url}/open/message/?size=50")
        assert answer["ret"] == 0, answer
        listed: list[dict[str, Any]] = answer["data"]["messages"]
        return listed

    async def detail(self, entry_id: str) -> dict[str, Any]:
        return await self.call("GET", f"{self.deployment.gateway_url}/open/message/{entry_id}")


async def new_user(deployment: Deployment, session: aiohttp.ClientSession, email: str) -> User:
    made = deployment.cli_json("user", "create", "--email", email)
    return User(deployment, session, made["id"], await sign_in(deployment, session, email))


async def bind_bark(deployment: Deployment, user_id: str, bark: BarkServer) -> None:
    store = deployment.open_store()
    try:
        await store.collection(push_ways.COLLECTION).insert_one(
            {
                "_id": user_id,
                "orders": ["bark"],
                "bark": {"key": DEVICE, "server": bark.url, "status": push_ways.VERIFIED},
            }
        )
    finally:
        await store.close()


async def push(
    session: aiohttp.ClientSession, deployment: Deployment, key: str, **fields: str
) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{deployment.gateway_url}/{key}", json=fields) as response:
        return response.status, await response.json()


@pytest.fixture
async def bark() -> AsyncIterator[BarkServer]:
    server = BarkServer()
    await server.start()
    try:
        yield server
    finally:
        server.release()
        await server.stop()


async def test_one_push_reaches_each_subscriber_as_they_chose(
    deployment: Deployment, bark: BarkServer
) -> None:
    async with aiohttp.ClientSession() as session:
        creator = await new_user(deployment, session, "creator@example.com")
        strong = await new_user(deployment, session, "strong@example.com")  # every topic, Bark bound
        weak = await new_user(deployment, session, "weak@example.com")  # every topic, inbox only
        picky = await new_user(deployment, session, "picky@example.com")  # the topic "beijing" only
        gone = await new_user(deployment, session, "gone@example.com")  # subscribes, then cancels
        await bind_bark(deployment, strong.id, bark)
        await bind_bark(deployment, weak.id, bark)  # a way, but a weak subscription: never used

        made = await creator.auth("POST", "/open/link/group", {"name": "smog alerts", "open": True})
        key, link_id = made["data"]["key"], made["data"]["id"]
        for user, choices in (
            (strong, {"strong": True}),
            (weak, {"strong": False}),
            (picky, {"strong": True, "topics": ["beijing"]}),
            (gone, {"strong": True}),
        ):
            assert (await user.auth("POST", f"/open/subscription/{link_id}", choices))["ret"] == 0
        assert (await gone.auth("POST", f"/open/subscription/{link_id}/cancel"))["ret"] == 0

        status, answer = await push(
            session, deployment, key, title="AQI", content="tianjin 180", topic="tianjin"
        )
        assert (status, answer["ret"]) == (200, 0), answer
        tianjin = answer["data"]["id"]

        async def fanned_out(message_id: str, recipients: int) -> bool:
            fanout = (await creator.detail(message_id))["data"]["message"]["fanout"]
            return bool(fanout["done"]) and fanout["recipients"] == recipients and fanout["pending"] == 0

        await eventually(lambda: fanned_out(tianjin, 2), what="the tianjin push fanned out")
        await eventually(lambda: len(bark.pushes) == 1, what="the strong subscriber's Bark push")
        assert (bark.pushes[0].body["device_key"], bark.pushes[0].body["body"]) == (DEVICE, "tianjin 180")
        detail = (await creator.detail(tianjin))["data"]["message"]
        assert detail["fanout"] == {"recipients": 2, "delivered": 2, "failed": 0, "pending": 0, "done": True}
        assert (detail["body"]["content"], detail["topic"], detail["source"]) == (
            "tianjin 180",
            "tianjin",
            "smog alerts",
        )

        [of_strong] = await strong.inbox()
        [of_weak] = await weak.inbox()
        assert await picky.inbox() == [] and await gone.inbox() == [] and await creator.inbox() == []
        assert of_strong["body"]["content"] == of_weak["body"]["content"] == "tianjin 180"
        assert (of_strong["mode"], of_weak["mode"]) == ("bark", "inbox")
        assert of_strong["id"] != tianjin and of_strong["id"] != of_weak["id"]
        assert (await strong.detail(of_strong["id"]))["data"]["message"]["delivery"]["status"] == "delivered"
        # A subscriber opening the id the sender got finds nothing: it is the sender's.
        assert (await weak.detail(tianjin))["ret"] == 203

        # The chosen topic, and a push without a topic (only those who chose none get it).
        status, answer = await push(session, deployment, key, content="beijing 200", topic="beijing")
        beijing = answer["data"]["id"]
        status, answer = await push(session, deployment, key, content="for all")
        untopical = answer["data"]["id"]
        await eventually(lambda: fanned_out(beijing, 3), what="the beijing push fanned out")
        await eventually(lambda: fanned_out(untopical, 2), what="the push without a topic fanned out")
        await eventually(lambda: len(bark.pushes) == 3, what="Bark pushes to the strong subscriber")
        assert [m["body"]["content"] for m in await picky.inbox()] == ["beijing 200"]
        assert [m["body"]["content"] for m in await weak.inbox()] == ["for all", "beijing 200", "tianjin 180"]
        assert await gone.inbox() == []
        topics = await creator.auth("GET", f"/open/link/group/{key}/topics")
        assert sorted(t["name"] for t in topics["data"]["topics"]) == ["beijing", "tianjin"]

        # A closed link takes no pushes; a deleted one is gone.
        # (The gateway hears of the change by a broadcast from auth: at once, but in another process.)
        async def answered(expected: tuple[int, int]) -> bool:
            status, answer = await push(session, deployment, key, content="after the change")
            return (status, answer["ret"]) == expected

        assert (await creator.auth("POST", f"/open/link/group/{key}/close"))["ret"] == 0
        await eventually(lambda: answered((403, 204)), timeout=10, what="the closed link refused")
        assert (await creator.auth("POST", f"/open/link/group/{key}/delete"))["ret"] == 0
        await eventually(lambda: answered((410, 204)), timeout=10, what="the deleted link gone")

        # Subscribers never see the push key, in any answer they got.
        for user in (strong, weak, picky, gone):
            await user.auth("GET", "/open/subscription")
            await user.auth("GET", "/open/link/group/market")
            for message in await user.inbox():
                await user.detail(message["id"])
            assert user.seen and not [text for text in user.seen if key in text]


async def insert_subscribers(deployment: Deployment, link_id: str, count: int) -> set[str]:
    """`count` subscribers straight into the store (half of them strong, none with a push way)."""
    store = deployment.open_store()
    users = {new_id() for _ in range(count)}
    now = now_ms()
    try:
        await store.collection(subscriptions.COLLECTION).insert_many(
            [
                {
                    "_id": subscriptions.subscription_id(link_id, user_id),
                    "linkId": link_id,
                    "userId": user_id,
                    "strong": n % 2 == 0,
                    "topics": [],
                    "allTopics": True,
                    "version": 0,
                    "createdAt": now,
                    "updatedAt": now,
                }
                for n, user_id in enumerate(sorted(users))
            ]
        )
    finally:
        await store.close()
    return users


async def test_a_fanout_killed_mid_job_resumes_with_one_entry_per_subscriber(
    tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    async with (
        deployed("distributed", tmp_path, amqp_url, mongo_url, namespace) as deployment,
        aiohttp.ClientSession() as session,
    ):
        creator = await new_user(deployment, session, "creator@example.com")
        made = await creator.auth("POST", "/open/link/group", {"name": "crowd", "open": False})
        key, link_id = made["data"]["key"], made["data"]["id"]
        users = await insert_subscribers(deployment, link_id, 4000)

        store = deployment.open_store()
        try:
            status, answer = await push(session, deployment, key, content="to the crowd")
            assert (status, answer["ret"]) == (200, 0), answer
            message_id = answer["data"]["id"]

            async def mid_job() -> bool:
                return await pages_started(store, message_id) >= 2

            await eventually(mid_job, what="the fanout's second page")
            [fanout] = [process for process in deployment.processes if process.name == "fanout"]
            fanout.popen.send_signal(signal.SIGKILL)
            fanout.popen.wait()
            progress = await fanout_jobs.progress_of(store, message_id)
            assert progress is not None and not progress.done, "the job ended before the kill"
            deployment.processes.remove(fanout)

            replacement = start("fanout-2", ["serve", "fanout"], deployment.env, tmp_path, free_port())
            deployment.processes.insert(-1, replacement)
            await wait_ready(replacement)

            async def done() -> bool:
                finished = await fanout_jobs.progress_of(store, message_id)
                return finished is not None and finished.done

            await eventually(done, timeout=120, what="the fanout to finish after the restart")
            entries = await store.collection(inbox.COLLECTION).find(
                {"messageId": message_id}, projection=["userId"]
            )
            assert len(entries) == len(users)
            assert {entry["userId"] for entry in entries} == users
            fanout_answer = (await creator.detail(message_id))["data"]["message"]["fanout"]
            assert fanout_answer == {
                "recipients": 4000,
                "delivered": 4000,
                "failed": 0,
                "pending": 0,
                "done": True,
            }
        finally:
            await store.close()


class RecordingBus:
    """Takes every publish (the handler's part of the bus port), in order."""

    def __init__(self) -> None:
        self.published: list[Any] = []

    async def publish(self, message: Any, *, headers: Any = None, delay_seconds: float = 0) -> None:
        self.published.append(message)


async def test_a_page_is_done_by_one_copy_and_redone_by_its_redelivery(store: Store) -> None:
    """Pages chain through the bus; a redelivered page redoes its work without a second entry, a second
    copy of a page (published again by a page redone after a crash) stops at once."""
    link_id, message_id = new_id(), new_id()
    for n in range(5):
        await subscriptions.subscribe(store, link_id, f"user-{n}", strong=n == 0, topics=[], now=now_ms())
    await store.collection(push_ways.COLLECTION).insert_one(
        {"_id": "user-0", "orders": ["bark"], "bark": {"key": DEVICE, "status": push_ways.VERIFIED}}
    )
    bus = RecordingBus()
    expansion = Expansion(store, cast(Bus, bus), page_size=2)
    job = GroupMessageApprovedV1(message_id=message_id, sender_id="creator", link_id=link_id, created_at=1)

    await expansion.expand(job)
    first_page = {recipient.user_id for recipient in await fanout_rosters.page(store, message_id, 0)}
    await expansion.expand(job)  # redelivered: redone, nothing doubled but the (idempotent) handoff
    *handoffs, first_next = bus.published[: len(bus.published) // 2]
    *again, second_next = bus.published[len(bus.published) // 2 :]
    assert len(first_page) == 2 and handoffs == again
    assert [h.entry_id for h in handoffs] == [
        inbox.derived_entry_id(message_id, user) for user in sorted(first_page) if user == "user-0"
    ]
    assert isinstance(first_next, FanoutPageV1) and first_next.token != second_next.token
    assert first_next.page == 1
    bus.published.clear()

    await expansion.expand(first_next)
    await expansion.expand(second_next)  # the second copy of page 1: stopped
    *_, last_page = bus.published
    await expansion.expand(last_page)
    progress = await fanout_jobs.progress_of(store, message_id)
    assert progress == fanout_jobs.Progress(pages=3, done=True)
    assert await pages_started(store, message_id) == 3
    assert await fanout_rosters.page(store, message_id, 0) == []  # the roster goes with the job
    entries = await store.collection(inbox.COLLECTION).find({"messageId": message_id})
    assert sorted(entry["userId"] for entry in entries) == [f"user-{n}" for n in range(5)]
    assert [entry["status"] for entry in entries if entry["userId"] == "user-0"] == ["pending"]
    assert await inbox.count_for_message(store, message_id, status="delivered") == 4


async def pages_started(store: Store, message_id: str) -> int:
    return await store.collection(fanout_jobs.COLLECTION).count(
        {"messageId": message_id, "page": {"$gte": 0}}
    )
