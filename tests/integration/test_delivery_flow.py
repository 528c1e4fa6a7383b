"""A strong push reaches the user's webhook, signed, once; the inbox shows how it went (both run modes)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pymongo
import pytest

from shared.data import push_ways
from shared.store.sqlite import SqliteStore
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import get_json, sign_in
from tests.waiting import eventually

SECRET = "flow-secret"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    running = WebhookReceiver(SECRET)
    await running.start()
    yield running
    await running.stop()


async def bind_webhook(deployment: Deployment, user_id: str, url: str) -> None:
    """What the binding API will write; written straight into the deployment's store until then."""
    doc: dict[str, Any] = {
        "_id": user_id,
        "orders": ["bark", "webhook"],
        "webhook": {"key": url, "secret": SECRET, "status": push_ways.VERIFIED},
    }
    if deployment.env.get("IGOT_MODE") == "distributed":
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(deployment.env["IGOT_MONGO_URL"])
        with client:
            client[deployment.env["IGOT_MONGO_DB"]][push_ways.COLLECTION].insert_one(doc)
        return
    store = SqliteStore(deployment.workdir / "data" / "igot.sqlite3")
    try:
        await store.collection(push_ways.COLLECTION).insert_one(doc)
    finally:
        await store.close()


async def detail(
    deployment: Deployment, session: aiohttp.ClientSession, token: str, message_id: str
) -> dict[str, Any]:
    status, answer = await get_json(
        session, f"{deployment.gateway_url}/open/message/{message_id}", params={"token": token}
    )
    assert (status, answer["ret"]) == (200, 0), answer
    message: dict[str, Any] = answer["data"]["message"]
    return message


async def push_and_wait(
    deployment: Deployment, receiver: WebhookReceiver, email: str, content: str
) -> tuple[str, dict[str, Any]]:
    user = deployment.cli_json("user", "create", "--email", email)
    await bind_webhook(deployment, user["id"], receiver.url)
    async with aiohttp.ClientSession() as session:
        status, answer = await get_json(session, f"{deployment.gateway_url}/{user['key']}/{content}")
        assert (status, answer["ret"]) == (200, 0), answer
        message_id: str = answer["data"]["id"]
        token = await sign_in(deployment, session, email)
        shown: dict[str, Any] = {}

        async def settled() -> bool:
            shown.update(await detail(deployment, session, token, message_id))
            return shown["delivery"]["status"] in ("delivered", "failed")

        await eventually(settled, timeout=30, what="the delivery settled")
    return message_id, shown


async def test_a_push_reaches_the_webhook_once_signed(
    deployment: Deployment, receiver: WebhookReceiver
) -> None:
    message_id, shown = await push_and_wait(deployment, receiver, "hook@example.com", "ring")
    assert shown["mode"] == "webhook" and shown["delivery"]["status"] == "delivered"
    attempts = [(a["way"], a["result"]) for a in shown["delivery"]["attempts"]]
    assert attempts == [("inbox", "delivered"), ("webhook", "delivered")]
    assert receiver.ids() == [message_id]
    (received,) = receiver.requests
    assert received.signature_valid and received.body["content"] == "ring"


async def test_a_failing_webhook_ends_failed_and_the_message_stays(
    deployment: Deployment, receiver: WebhookReceiver
) -> None:
    receiver.otherwise = 503
    message_id, shown = await push_and_wait(deployment, receiver, "down@example.com", "lost")
    assert shown["mode"] == "inbox" and shown["delivery"]["status"] == "failed"
    tries = len(deployment_retry_delays(deployment)) + 1
    attempts = [(a["way"], a["result"]) for a in shown["delivery"]["attempts"]]
    assert attempts == [("inbox", "delivered")] + [("webhook", "retry")] * tries
    assert receiver.ids() == [message_id] * tries
    assert shown["body"]["content"] == "lost"


def deployment_retry_delays(deployment: Deployment) -> list[float]:
    delays: list[float] = json.loads(deployment.env["IGOT_BUS_RETRY_DELAYS"])
    return delays
