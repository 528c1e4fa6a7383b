"""What a request means, through HTTP in both run modes: HEAD changes nothing, only push keys are pushed
to, an idempotency key stands for its first content for a bounded time, page numbers are strict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.data import idempotency, messages, outbox
from shared.data import inbox as inbox_entries
from shared.paging import MAX_PAGE_INDEX
from shared.store import Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore
from tests.integration.processes import Deployment, free_port, start, wait_ready
from tests.integration.test_push_flow import get_json, inbox, post_json, sign_in, wait_for_inbox
from tests.waiting import eventually

COUNTED = (messages.COLLECTION, outbox.COLLECTION, inbox_entries.COLLECTION, idempotency.COLLECTION)


def open_store(deployment: Deployment) -> Store:
    """The deployment's own store, opened beside its processes."""
    env = deployment.env
    if env.get("IGOT_MODE") == "distributed":
        return MongoStore(env["IGOT_MONGO_URL"], env["IGOT_MONGO_DB"])
    return SqliteStore(Path(env["IGOT_DATA_DIR"]) / "igot.sqlite3")


async def stored_counts(deployment: Deployment) -> dict[str, int]:
    store = open_store(deployment)
    try:
        return {name: await store.collection(name).count({}) for name in COUNTED}
    finally:
        await store.close()


async def request(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any] | None]:
    async with session.request(method, url, **kwargs) as response:
        body = await response.read()
        return response.status, json.loads(body) if body else None


async def test_head_changes_nothing(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "head@example.com")["key"]
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        for url in (f"{base}/{key}/hello", f"{base}/{key}/Title/Body", f"{base}/{key}?content=hello"):
            async with session.head(url) as response:
                assert response.status == 405, url
        assert await stored_counts(deployment) == dict.fromkeys(COUNTED, 0)

        _, pushed = await get_json(session, f"{base}/{key}/read%20me")
        message_id = pushed["data"]["id"]
        token = await sign_in(deployment, session, "head@example.com")
        await wait_for_inbox(deployment, session, token, 1)
        detail = f"{base}/open/message/{message_id}"
        async with session.head(detail, params={"token": token}) as response:
            # Refused (`/open/` answers HTTP 200 for every ret, and a HEAD answer has no body to show it):
            # what counts is that the message stays unread, checked below.
            assert response.status == 200
        # Listing has no side effect, so HEAD on it stays allowed.
        async with session.head(f"{base}/open/message/", params={"token": token}) as response:
            assert response.status == 200
        (shown,) = (await inbox(deployment, session, token))["messages"]
        assert shown["read"] is False
        _, opened = await get_json(session, detail, params={"token": token})
        assert opened["data"]["message"]["read"] is True


async def test_only_push_keys_are_pushed_to(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "paths@example.com")["key"]
    base = deployment.gateway_url
    not_found = {"ret": 203, "data": {}, "errMsg": "not found"}
    not_allowed = {"ret": 202, "data": {}, "errMsg": "method not allowed"}
    async with aiohttp.ClientSession() as session:
        token = await sign_in(deployment, session, "paths@example.com")
        for method, path in (
            ("GET", f"/{key.upper()}/hello"),
            ("GET", f"/{key}x/hello"),
            ("GET", f"/{key}/a/b/c"),
            ("POST", "/nothing"),
        ):
            assert await request(session, method, f"{base}{path}") == (404, not_found), path
        for method, path in (
            ("POST", "/healthz"),
            ("POST", "/readyz"),
            ("PUT", "/metrics"),
            ("DELETE", f"/{key}"),
            ("PUT", f"/{key}/hello"),
        ):
            assert await request(session, method, f"{base}{path}") == (405, not_allowed), path
        # The client API answers HTTP 200 even where no route serves (the desktop client reads no other).
        for method, path, refusal in (
            ("GET", "/open/whatever", not_found),
            ("GET", "/open/message/x/y", not_found),
            ("POST", "/open/nothing/here", not_found),
            ("GET", "/open/user/nobody", not_found),
            ("DELETE", "/open/message/x", not_allowed),
            ("PUT", "/open/message/", not_allowed),
        ):
            assert await request(session, method, f"{base}{path}") == (200, refusal), path
        assert await stored_counts(deployment) == dict.fromkeys(COUNTED, 0)
        # A route that exists keeps the client API's HTTP 200 for every `ret`.
        status, unknown = await request(session, "GET", f"{base}/open/message/{'0' * 24}?token={token}")
        assert (status, unknown) == (200, {"ret": 203, "data": {}, "errMsg": "no such message"})


async def test_an_idempotency_key_stands_for_its_first_content(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "idem@example.com")["key"]
    other_key = deployment.cli_json("user", "create", "--email", "idem2@example.com")["key"]
    base = deployment.gateway_url
    headers = {"Idempotency-Key": "order-42"}
    first = {"content": "paid", "topic": "orders", "detail": {"a": 1, "b": 2}}
    async with aiohttp.ClientSession() as session:
        status, once = await post_json(session, f"{base}/{key}", json=first, headers=headers)
        assert (status, once["ret"]) == (200, 0), once
        message_id = once["data"]["id"]
        reordered = {"detail": {"b": 2, "a": 1}, "topic": "orders", "content": "paid"}
        _, twice = await post_json(session, f"{base}/{key}", json=reordered, headers=headers)
        assert twice["data"]["id"] == message_id
        # The same key as a field, by GET with the same fields: the same push.
        query = {"topic": "orders", "idempotencyKey": "order-42"}
        _, by_get = await get_json(session, f"{base}/{key}/paid", params={**query, "detail": "x"})
        assert (by_get["ret"], by_get["errMsg"]) == (202, "idempotency key reused with different content")
        for changed in (
            {**first, "content": "paid twice"},
            {**first, "topic": "refunds"},
            {"content": "paid"},
        ):
            status, refused = await post_json(session, f"{base}/{key}", json=changed, headers=headers)
            assert (status, refused) == (
                422,
                {"ret": 202, "data": {}, "errMsg": "idempotency key reused with different content"},
            )
        # Another push key's idempotency keys are its own.
        _, elsewhere = await post_json(session, f"{base}/{other_key}", json={"content": "x"}, headers=headers)
        assert elsewhere["ret"] == 0 and elsewhere["data"]["id"] != message_id

        token = await sign_in(deployment, session, "idem@example.com")
        await wait_for_inbox(deployment, session, token, 1)
        (shown,) = (await inbox(deployment, session, token))["messages"]
        assert shown["id"] == message_id and shown["body"]["content"] == "paid"

    store = open_store(deployment)
    try:
        records = await store.collection(idempotency.COLLECTION).find({})
    finally:
        await store.close()
    assert [record["expiresAt"] - record["createdAt"] for record in records] == [86_400_000] * 2


@pytest.mark.parametrize("deployment", ["standalone"], indirect=True)
async def test_an_idempotency_key_is_free_again_after_its_ttl(deployment: Deployment, tmp_path: Path) -> None:
    """`IGOT_IDEMPOTENCY_TTL_SECONDS` bounds how long a key is remembered."""
    key = deployment.cli_json("user", "create", "--email", "ttl@example.com")["key"]
    deployment.stop()
    env = {**deployment.env, "IGOT_IDEMPOTENCY_TTL_SECONDS": "1"}
    process = start("short-ttl", ["standalone"], env, tmp_path, free_port())
    deployment.processes.append(process)
    await wait_ready(process)
    url = f"{process.url}/{key}"
    headers = {"Idempotency-Key": "nightly"}
    async with aiohttp.ClientSession() as session:
        _, first = await post_json(session, url, json={"content": "build 1"}, headers=headers)
        answers: list[dict[str, Any]] = []

        async def key_is_free() -> bool:
            answers.append((await post_json(session, url, json={"content": "build 2"}, headers=headers))[1])
            return bool(answers[-1]["ret"] == 0)

        await eventually(key_is_free, timeout=10, what="the idempotency key to be free again")
        assert all(answer["ret"] == 202 for answer in answers[:-1])
        assert answers[-1]["data"]["id"] != first["data"]["id"]


async def test_page_numbers_are_plain_digits_within_64_bits(deployment: Deployment) -> None:
    deployment.cli_json("user", "create", "--email", "pages@example.com")
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        token = await sign_in(deployment, session, "pages@example.com")
        for name, value in (
            ("index", str(2**64)),
            ("index", str(MAX_PAGE_INDEX + 1)),
            ("index", "9" * 400),
            ("index", "1_000"),
            ("index", "+2"),
            ("index", "-1"),
            ("index", "0"),
            ("index", " 3"),
            ("index", "1.0"),
            ("index", "\u0661"),  # ARABIC-INDIC DIGIT ONE
            ("index", "\uff11"),  # FULLWIDTH DIGIT ONE
            ("size", "51"),
            ("size", "0"),
            ("size", "\u0665"),
            ("size", "true"),
        ):
            status, answer = await get_json(
                session, f"{base}/open/message/", params={"token": token, name: value}
            )
            assert (status, answer["ret"]) == (200, 202), (name, value, answer)
            assert answer["errMsg"].startswith(f"{name} must be a whole number between 1 and "), answer
        # The last page there can be is an empty page, on either store.
        for index, size in ((MAX_PAGE_INDEX, 50), ("007", "02")):
            data = await inbox(deployment, session, token, index=index, size=size)
            assert data == {"messages": [], "count": 0}
