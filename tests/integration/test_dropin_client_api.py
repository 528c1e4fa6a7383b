"""What the desktop client needs of the client API, in both run modes: it deletes one message, and every
answer under `/open/` (and `/access/`) is HTTP 200 with an envelope whose `data` is an object, even for a
path or method no route serves. The store part runs on both adapters."""

from __future__ import annotations

import aiohttp

from services.gateway.inbox_view import delete_for_user
from shared.data import inbox, messages
from shared.ids import new_id
from shared.messages.push import MessageBody
from shared.store import Store
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import get_json, post_json, sign_in, wait_for_inbox
from tests.integration.test_push_flow import inbox as inbox_page
from tests.integration.test_semantics import open_store, request


async def _stored(store: Store, message_id: str, *, recipients: list[str], sender: str) -> None:
    """A message and an entry per recipient, ids as the dispatcher gives them."""
    await messages.insert(
        store,
        messages.new_message(
            message_id=message_id,
            sender_id=sender,
            key_kind="fixed",
            body=MessageBody(content="x"),
            created_at=1,
        ),
    )
    for user in recipients:
        entry_id = message_id if user == sender else inbox.derived_entry_id(message_id, user)
        entry = inbox.new_entry(
            entry_id=entry_id,
            user_id=user,
            message_id=message_id,
            created_at=1,
            stored_at=1,
            status="delivered",
        )
        assert await inbox.insert_if_absent(store, entry)


async def test_deleting_an_entry_removes_a_message_only_its_sender_received(store: Store) -> None:
    own, shared = new_id(), new_id()
    alice, bob = "a" * 24, "b" * 24
    await _stored(store, own, recipients=[alice], sender=alice)
    await _stored(store, shared, recipients=[alice, bob], sender="c" * 24)

    assert not await delete_for_user(store, bob, own)  # not bob's
    assert await delete_for_user(store, alice, own)
    assert await inbox.get_by_id(store, own) is None and await messages.get_by_id(store, own) is None
    assert not await delete_for_user(store, alice, own)  # once

    # Another recipient still reads a message sent to several: it stays.
    assert await delete_for_user(store, alice, inbox.derived_entry_id(shared, alice))
    assert await messages.get_by_id(store, shared) is not None
    assert await inbox.get_for_user(store, bob, inbox.derived_entry_id(shared, bob)) is not None


async def test_the_desktop_client_deletes_one_message(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "delete@example.com")["key"]
    deployment.cli_json("user", "create", "--email", "other@example.com")
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        token = await sign_in(deployment, session, "delete@example.com")
        other = await sign_in(deployment, session, "other@example.com")
        ids = []
        for content in ("keep", "drop"):
            _, pushed = await get_json(session, f"{base}/{key}/{content}")
            ids.append(pushed["data"]["id"])
        kept, dropped = ids
        await wait_for_inbox(deployment, session, token, 2)

        # As the client sends it: JSON content type, an empty JSON body, the token in the query.
        url = f"{base}/open/message/delete/{dropped}"
        json_headers = {"Content-Type": "application/json", "Origin": "file://"}
        assert await post_json(session, url, params={"token": other}, data="{}", headers=json_headers) == (
            200,
            {"ret": 203, "data": {}, "errMsg": "no such message"},
        )
        assert await post_json(session, url, data="{}", headers=json_headers) == (
            200,
            {"ret": 300, "data": {}, "errMsg": "token is empty"},
        )
        status, done = await post_json(session, url, params={"token": token}, data="{}", headers=json_headers)
        assert (status, done) == (200, {"ret": 0, "data": {}, "errMsg": "success"})
        page = await inbox_page(deployment, session, token)
        assert (page["count"], [m["id"] for m in page["messages"]]) == (1, [kept])
        status, again = await post_json(session, url, params={"token": token}, data="{}")
        assert (status, again["ret"]) == (200, 203)
        _, detail = await get_json(session, f"{base}/open/message/{dropped}", params={"token": token})
        assert detail["ret"] == 203
    store = open_store(deployment)
    try:
        assert await messages.get_by_id(store, dropped) is None
        assert await messages.get_by_id(store, kept) is not None
    finally:
        await store.close()


async def test_every_client_api_answer_is_http_200_with_an_envelope(deployment: Deployment) -> None:
    base = deployment.gateway_url
    not_found = {"ret": 203, "data": {}, "errMsg": "not found"}
    not_allowed = {"ret": 202, "data": {}, "errMsg": "method not allowed"}
    async with aiohttp.ClientSession() as session:
        for method, path in (
            ("GET", "/open/whatever"),
            ("POST", "/open/nothing/here"),
            ("GET", "/open/message/x/y/z"),
            ("GET", "/access/nothing"),
        ):
            assert await request(session, method, f"{base}{path}") == (200, not_found), path
        for method, path in (
            ("PUT", "/open/message/"),
            ("DELETE", "/open/message/x"),
            ("PATCH", "/open/message"),
        ):
            assert await request(session, method, f"{base}{path}") == (200, not_allowed), path
        # Outside the client API the status still says what went wrong.
        assert await request(session, "GET", f"{base}/nothing/here/at/all") == (404, not_found)
        assert await request(session, "PUT", f"{base}/healthz") == (405, not_allowed)
