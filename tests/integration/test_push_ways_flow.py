"""Push ways as a user meets them, in both modes: bind Bark (a self-hosted server) and e-mail by following
the links they receive, then pushes arrive in the user's order, falling back when a way fails."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.data import inbox
from tests.fakes.bark_server import HANG, BarkServer
from tests.fakes.smtp_server import SmtpServer
from tests.integration.conftest import RETRY_DELAYS, start_distributed, start_standalone
from tests.integration.processes import (
    Deployment,
    base_env,
    distributed_settings,
    drop_database,
    free_port,
    remove_broker_namespace,
    start,
    wait_ready,
)
from tests.integration.test_push_flow import get_json, post_json, sign_in
from tests.waiting import eventually

DEVICE = "x8Rk2mQv7pLz9aBcDeFgHj"
EMAIL = "ways@example.com"
KILL_TEST_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
LINK = re.compile(r"https?://[^\s<>\"]+/verify/[A-Za-z0-9_-]+")


@dataclass
class World:
    """A running iGot with a fake Bark server and a local SMTP server, and a signed-in user."""

    deployment: Deployment
    bark: BarkServer
    smtp: SmtpServer
    session: aiohttp.ClientSession
    token: str = ""
    key: str = ""

    async def open(self, method: str, path: str, **json: Any) -> dict[str, Any]:
        call = post_json if method == "POST" else get_json
        status, answer = await call(
            self.session, f"{self.deployment.auth_url}{path}", params={"token": self.token}, json=json or None
        )
        assert status == 200, answer
        return answer

    async def push(self, content: str) -> str:
        status, answer = await get_json(self.session, f"{self.deployment.gateway_url}/{self.key}/{content}")
        assert (status, answer["ret"]) == (200, 0), answer
        message_id: str = answer["data"]["id"]
        return message_id

    async def detail(self, message_id: str) -> dict[str, Any] | None:
        """The message as the client API shows it; None until the dispatcher has put it in the inbox."""
        _, answer = await get_json(
            self.session,
            f"{self.deployment.gateway_url}/open/message/{message_id}",
            params={"token": self.token},
        )
        message: dict[str, Any] | None = answer["data"].get("message")
        return message

    async def settled(self, message_id: str, status: str, *, timeout: float = 60) -> dict[str, Any]:
        """The message as shown once its entry has `status`. The wait reads the store: showing the message
        marks it read, a write that would race the dispatcher's own on the MongoDB-compatible test server,
        which applies updates as read-then-write across processes."""
        store = self.deployment.open_store()
        entry: dict[str, Any] | None = None

        async def done() -> bool:
            nonlocal entry
            entry = await inbox.get_by_id(store, message_id)
            return entry is not None and entry["status"] == status

        try:
            await eventually(done, timeout=timeout, what=f"{message_id} {status}")
        except AssertionError as error:
            raise AssertionError(f"{error}; entry: {entry}\n{self.deployment.logs()}") from None
        finally:
            await store.close()
        shown = await self.detail(message_id)
        assert shown is not None
        return shown

    async def follow(self, link: str) -> str:
        async with self.session.get(link) as response:
            assert response.status == 200, await response.text()
            return await response.text()

    async def way_status(self) -> dict[str, int]:
        ways = (await self.open("GET", "/open/push-way/"))["data"]["pushWay"]
        return {way: ways[way]["status"] for way in ("bark", "email", "webhook", "wechat")}


async def bind_and_verify(world: World) -> None:
    """Bark and e-mail bound the way a user does it: the link arrives on the way itself and is followed."""
    answer = await world.open("POST", "/open/push-way/bark/bind", key=world.bark.push_url(DEVICE))
    assert answer["ret"] == 0, answer
    await eventually(lambda: len(world.bark.pushes) == 1, timeout=30, what="the Bark verification push")
    verification = world.bark.pushes[0].body
    assert verification["device_key"] == DEVICE
    await world.follow(verification["url"])

    answer = await world.open("POST", "/open/push-way/email/bind", key=EMAIL)
    assert answer["ret"] == 0, answer
    await eventually(lambda: len(world.smtp.mails) == 1, timeout=30, what="the verification e-mail")
    mail = world.smtp.mails[0]
    assert mail.rcpt_tos == (EMAIL,)
    found = LINK.search(mail.part("plain"))
    assert found is not None, mail.part("plain")
    await world.follow(found.group(0))

    assert (await world.way_status())["bark"] == 2
    assert (await world.way_status())["email"] == 2
    assert (await world.open("POST", "/open/push-way/bark/bind", key=DEVICE))["ret"] == 208  # bound already
    order = ["bark", "email", "wechat", "webhook"]
    assert (await world.open("POST", "/open/push-way/orders", orders=order))["ret"] == 0


@pytest.fixture(params=["standalone", "distributed"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[World]:
    bark, smtp = BarkServer(), SmtpServer()
    await bark.start()
    smtp.start()
    settings = {"smtp_host": "127.0.0.1", "smtp_port": str(smtp.port), "smtp_from": "iGot <push@example.com>"}
    if request.param == "standalone":
        deployment = await start_standalone(tmp_path, **settings)
    else:
        deployment = await start_distributed(tmp_path, amqp_url, mongo_url, namespace, **settings)
    try:
        async with aiohttp.ClientSession() as session:
            user = deployment.cli_json("user", "create", "--email", EMAIL)
            opened = World(deployment, bark, smtp, session, key=user["key"])
            opened.token = await sign_in(deployment, session, EMAIL)
            yield opened
    finally:
        deployment.stop()
        await bark.stop()
        smtp.stop()
        if request.param == "distributed":
            drop_database(mongo_url, namespace)
            await remove_broker_namespace(amqp_url, f"igot-{namespace}", RETRY_DELAYS)


async def test_pushes_reach_the_first_way_and_fall_back_when_it_fails(world: World) -> None:
    await bind_and_verify(world)

    first = await world.push("hello-bark")
    shown = await world.settled(first, "delivered")
    assert shown["mode"] == "bark"
    assert world.bark.pushes[-1].body["body"] == "hello-bark"
    assert [(a["way"], a["result"]) for a in shown["delivery"]["attempts"]] == [
        ("inbox", "delivered"),
        ("bark", "delivered"),
    ]

    # Bark refuses the device for good: e-mail at once, no retry of Bark.
    world.bark.otherwise = 400
    pushes_before = len(world.bark.pushes)
    refused = await world.push("bark-refuses")
    shown = await world.settled(refused, "delivered")
    assert shown["mode"] == "email"
    assert [(a["way"], a["result"]) for a in shown["delivery"]["attempts"]][1:] == [
        ("bark", "failed"),
        ("email", "delivered"),
    ]
    assert len(world.bark.pushes) == pushes_before + 1
    assert "bark-refuses" in world.smtp.mails[-1].part("plain")

    # Bark fails for now: retried on its budget, then e-mail.
    world.bark.otherwise = 500
    pushes_before = len(world.bark.pushes)
    flaky = await world.push("bark-is-down")
    shown = await world.settled(flaky, "delivered")
    assert shown["mode"] == "email"
    results = [(a["way"], a["result"]) for a in shown["delivery"]["attempts"]][1:]
    tries = 1 + len(RETRY_DELAYS)
    # Each Bark attempt failed for now ("retry"); when its budget was used up the way failed: e-mail.
    assert results == [("bark", "retry")] * tries + [("email", "delivered")]
    assert len(world.bark.pushes) == pushes_before + tries

    # Every way fails: the message stays in the inbox, `failed`, every attempt recorded.
    world.smtp.refuse[EMAIL] = "550 5.1.1 no such user"
    world.bark.otherwise = 400
    lost = await world.push("nobody-home")
    shown = await world.settled(lost, "failed")
    assert shown["mode"] == "inbox"
    assert [(a["way"], a["result"]) for a in shown["delivery"]["attempts"]][1:] == [
        ("bark", "failed"),
        ("email", "failed"),
    ]


async def test_a_killed_channel_process_loses_nothing(
    tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    """The Bark consumer runs in a process of its own; it is SIGKILLed while a push is under way."""
    bark, smtp = BarkServer(script=[HANG]), SmtpServer()
    await bark.start()
    smtp.start()
    env = base_env(
        tmp_path,
        **{
            **distributed_settings(amqp_url, mongo_url, namespace),
            # A store that is busy for a moment (the test server under load) is retried, never parked.
            "bus_retry_delays": json.dumps(KILL_TEST_DELAYS),
            "smtp_host": "127.0.0.1",
            "smtp_port": str(smtp.port),
        },
    )
    deployment = Deployment(env=env, gateway_url="", auth_url="", workdir=tmp_path)
    deployment.cli("migrate")
    commands = {
        "auth": ["serve", "auth"],
        "gateway": ["serve", "gateway"],
        "router": ["serve", "dispatcher", "--router-only"],
        "email": ["serve", "dispatcher", "--channel", "email"],
        "bark": ["serve", "dispatcher", "--channel", "bark"],
    }
    processes = {name: start(name, args, env, tmp_path, free_port()) for name, args in commands.items()}
    deployment.processes.extend(processes.values())
    try:
        for process in deployment.processes:
            await wait_ready(process)
        deployment.auth_url, deployment.gateway_url = processes["auth"].url, processes["gateway"].url
        async with aiohttp.ClientSession() as session:
            user = deployment.cli_json("user", "create", "--email", EMAIL)
            world = World(deployment, bark, smtp, session, key=user["key"])
            world.token = await sign_in(deployment, session, EMAIL)
            # The verification push is the one that hangs: release it after binding, then verify.
            assert (await world.open("POST", "/open/push-way/bark/bind", key=bark.push_url(DEVICE)))[
                "ret"
            ] == 0
            await eventually(lambda: len(bark.pushes) == 1, timeout=30, what="the Bark verification push")
            bark.release()
            await world.follow(bark.pushes[0].body["url"])

            bark.hold()
            bark.script.append(HANG)
            message_id = await world.push("through-a-crash")
            await eventually(lambda: len(bark.pushes) == 2, timeout=30, what="the push under way")
            processes["bark"].popen.send_signal(signal.SIGKILL)
            processes["bark"].popen.wait()
            bark.release()
            restarted = start("bark-again", commands["bark"], env, tmp_path, free_port())
            deployment.processes.append(restarted)
            await wait_ready(restarted)
            shown = await world.settled(message_id, "delivered", timeout=120)
            assert shown["mode"] == "bark"
            delivered = [push for push in bark.pushes if push.body.get("body") == "through-a-crash"]
            # At least once: the try cut short by the kill was never recorded, so it is made again once.
            assert len(delivered) == 2
            results = [(a["way"], a["result"]) for a in shown["delivery"]["attempts"]]
            assert results[-1] == ("bark", "delivered")
            # Once delivered, nothing is sent again however long we look.
            again = await world.push("after-the-crash")
            await world.settled(again, "delivered")
            assert [push.body.get("body") for push in bark.pushes].count("through-a-crash") == 2
    finally:
        deployment.stop()
        await bark.stop()
        smtp.stop()
        drop_database(mongo_url, namespace)
        await remove_broker_namespace(amqp_url, f"igot-{namespace}", KILL_TEST_DELAYS)
