"""Read escalation end to end over HTTP, in both modes: a user with Bark then a webhook sets a delay of one
minute through the client API; an unread push reaches Bark, then the webhook once the delay has passed,
once, its attempt marked as an escalation; a push read before the delay never reaches the webhook.

One escalation minute lasts a second here (`IGOT_ESCALATION_MINUTE_SECONDS`). The waits follow the
dispatcher's own count of handled escalation checks (`/metrics`), never a guessed sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.data import inbox, push_ways
from tests.fakes.bark_server import HANG, BarkServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.conftest import deployed
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import get_json, post_json, sign_in
from tests.waiting import eventually

EMAIL = "escalate@example.com"
DEVICE = "q7Wn3xVb8KpR2tYzLmNcDs"
SECRET = "escalation-secret"
MINUTE_SECONDS = "1"
SETTLE_SECONDS = 3 * float(MINUTE_SECONDS)
ESCALATION_QUEUE = "dispatcher.escalation"


@dataclass
class World:
    """A deployment, a fake Bark server and a webhook receiver, and a signed-in user with both ways."""

    deployment: Deployment
    bark: BarkServer
    receiver: WebhookReceiver
    session: aiohttp.ClientSession
    token: str = ""
    key: str = ""

    async def push(self, content: str) -> str:
        status, answer = await get_json(self.session, f"{self.deployment.gateway_url}/{self.key}/{content}")
        assert (status, answer["ret"]) == (200, 0), answer
        message_id: str = answer["data"]["id"]
        return message_id

    async def detail(self, message_id: str) -> dict[str, Any]:
        """The message as the client API shows it, which marks it read."""
        status, answer = await get_json(
            self.session,
            f"{self.deployment.gateway_url}/open/message/{message_id}",
            params={"token": self.token},
        )
        assert (status, answer["ret"]) == (200, 0), answer
        message: dict[str, Any] = answer["data"]["message"]
        return message

    async def entry(self, message_id: str) -> dict[str, Any] | None:
        """The inbox entry read from the store: showing it through the client API would mark it read."""
        store = self.deployment.open_store()
        try:
            return await inbox.get_by_id(store, message_id)
        finally:
            await store.close()

    async def escalation_checks(self) -> float:
        """Escalation checks the dispatcher has handled (acknowledged) so far."""
        dispatcher = next(p for p in self.deployment.processes if p.name in ("standalone", "dispatcher"))
        async with self.session.get(f"{dispatcher.url}/metrics") as response:
            assert response.status == 200
            text = await response.text()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "igot_bus_consumed"
            for sample in family.samples
            if sample.name == "igot_bus_consumed_total"
            and sample.labels == {"queue": ESCALATION_QUEUE, "outcome": "ack"}
        )

    async def wait(self, what: str, check: Any) -> None:
        try:
            await eventually(check, timeout=60, what=what)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.deployment.logs()}") from None


async def bind_bark_then_webhook(world: World, user_id: str) -> None:
    """Both ways verified, Bark first: written into the deployment's store as binding them would."""
    store = world.deployment.open_store()
    try:
        await store.collection(push_ways.COLLECTION).insert_one(
            {
                "_id": user_id,
                "orders": ["bark", "webhook"],
                "bark": {"key": DEVICE, "server": world.bark.url, "status": push_ways.VERIFIED},
                "webhook": {"key": world.receiver.url, "secret": SECRET, "status": push_ways.VERIFIED},
            }
        )
    finally:
        await store.close()


@pytest.fixture(params=["standalone", "distributed"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[World]:
    bark, receiver = BarkServer(), WebhookReceiver(SECRET)
    await bark.start()
    await receiver.start()
    try:
        async with (
            deployed(
                request.param,
                tmp_path,
                amqp_url,
                mongo_url,
                namespace,
                escalation_minute_seconds=MINUTE_SECONDS,
            ) as deployment,
            aiohttp.ClientSession() as session,
        ):
            user = deployment.cli_json("user", "create", "--email", EMAIL)
            opened = World(deployment, bark, receiver, session, key=user["key"])
            opened.token = await sign_in(deployment, session, EMAIL)
            await bind_bark_then_webhook(opened, user["id"])
            yield opened
    finally:
        bark.release()
        await bark.stop()
        await receiver.stop()


async def test_an_unread_push_escalates_once_and_a_read_one_never(world: World) -> None:
    status, answer = await post_json(
        world.session,
        f"{world.deployment.auth_url}/open/push-way/escalation",
        params={"token": world.token},
        json={"minutes": 1},
    )
    assert (status, answer["ret"], answer["data"]) == (200, 0, {"minutes": 1}), answer

    # Unread: Bark, then the webhook one delay later. The webhook's own delivery schedules a second
    # check, which finds no way left: once both are handled, nothing more can come.
    unread = await world.push("still-unread")

    async def escalated() -> bool:
        return unread in world.receiver.ids()

    await world.wait("the escalation to the webhook", escalated)

    async def both_checks_handled() -> bool:
        return await world.escalation_checks() >= 2

    await world.wait("the check after the webhook", both_checks_handled)
    assert [push.body["body"] for push in world.bark.pushes] == ["still-unread"]
    assert world.receiver.ids() == [unread]
    assert world.receiver.requests[0].signature_valid
    shown = await world.detail(unread)
    assert shown["delivery"]["status"] == "delivered"
    attempts = shown["delivery"]["attempts"]
    assert [(a["way"], a["result"], a.get("escalation", False)) for a in attempts] == [
        ("inbox", "delivered", False),
        ("bark", "delivered", False),
        ("webhook", "delivered", True),
    ]
    assert attempts[2]["at"] > attempts[1]["at"]

    # Read before the delay: Bark holds the push open while the user reads it, so the read is certainly
    # in before the check, then Bark answers. The check finds the message read and stops there.
    checks_before = await world.escalation_checks()
    world.bark.script.append(HANG)
    read_first = await world.push("read-at-once")
    await world.wait("the push at Bark", lambda: len(world.bark.pushes) == 2)
    assert (await world.detail(read_first))["read"] is True
    world.bark.release()

    async def delivered_on_bark() -> bool:
        entry = await world.entry(read_first)
        return entry is not None and entry["status"] == "delivered"

    await world.wait("the Bark delivery", delivered_on_bark)

    async def its_check_handled() -> bool:
        return await world.escalation_checks() >= checks_before + 1

    await world.wait("the escalation check of the read push", its_check_handled)
    # A check that escalated would have requested the webhook by now; give such a request a few delays.
    with pytest.raises(AssertionError):
        await eventually(lambda: read_first in world.receiver.ids(), timeout=SETTLE_SECONDS)
    assert world.receiver.ids() == [unread]  # nothing of the read push, ever
    assert [push.body["body"] for push in world.bark.pushes] == ["still-unread", "read-at-once"]
    shown = await world.detail(read_first)
    assert [(a["way"], a["result"]) for a in shown["delivery"]["attempts"]] == [
        ("inbox", "delivered"),
        ("bark", "delivered"),
    ]
