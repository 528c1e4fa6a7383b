"""Bad input of every kind gets a clear envelope with the right `ret` and status, and stores nothing."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from shared.data import inbox as inbox_entries
from shared.data import messages, outbox
from shared.store import Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore
from tests.integration.conftest import MAX_BODY
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import get_json, inbox, post_json, sign_in, wait_for_inbox


async def stored_counts(deployment: Deployment) -> dict[str, int]:
    """How many documents the deployment's own store holds in each collection a push writes."""
    env = deployment.env
    store: Store = (
        MongoStore(env["IGOT_MONGO_URL"], env["IGOT_MONGO_DB"])
        if env.get("IGOT_MODE") == "distributed"
        else SqliteStore(Path(env["IGOT_DATA_DIR"]) / "igot.sqlite3")
    )
    try:
        return {
            name: await store.collection(name).count({})
            for name in (messages.COLLECTION, outbox.COLLECTION, inbox_entries.COLLECTION)
        }
    finally:
        await store.close()


async def test_refusals_are_clear_and_store_nothing(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "bad@example.com")["key"]
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        cases: list[tuple[str, str, dict[str, object], int, int]] = [
            ("unknown key", "GET", {"url": f"{base}/{'0' * 24}/hello"}, 404, 203),
            ("not a key", "GET", {"url": f"{base}/nope/hello"}, 404, 203),
            (
                "empty content",
                "POST",
                {"url": f"{base}/{key}", "json": {"title": "t", "content": ""}},
                400,
                202,
            ),
            ("missing content", "POST", {"url": f"{base}/{key}", "json": {"title": "t"}}, 400, 202),
            ("blank content", "POST", {"url": f"{base}/{key}", "json": {"content": "   "}}, 400, 202),
            (
                "bad JSON",
                "POST",
                {"url": f"{base}/{key}", "data": b"{nope", "headers": {"Content-Type": "application/json"}},
                400,
                202,
            ),
            ("JSON array", "POST", {"url": f"{base}/{key}", "json": ["content"]}, 400, 202),
            (
                "operator as content",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": {"$ne": None}}},
                400,
                202,
            ),
            (
                "operator in extra",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "who": {"$gt": ""}}},
                400,
                202,
            ),
            (
                "operator key",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "$where": "1"}},
                400,
                202,
            ),
            (
                "operator in title",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "title": {"$regex": ".*"}}},
                400,
                202,
            ),
            (
                "bad copy flag",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "automaticallyCopy": 7}},
                400,
                202,
            ),
            (
                "bad url",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "url": "javascript:alert(1)"}},
                400,
                202,
            ),
            (
                "oversize body",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x" * (MAX_BODY * 2)}},
                413,
                202,
            ),
        ]
        for name, method, request, http_status, ret in cases:
            async with session.request(method, **request) as response:  # type: ignore[arg-type]
                answer = await response.json()
                assert (response.status, answer["ret"]) == (http_status, ret), (name, answer)
                assert answer["errMsg"] and answer["errMsg"] != "success", name
                assert set(answer) == {"ret", "data", "errMsg"}, name
        assert await stored_counts(deployment) == {"messages": 0, "outbox": 0, "inbox": 0}

        # Client API: 200 with the seed's status words.
        _, empty = await get_json(session, f"{base}/open/message/")
        assert empty["ret"] == 300
        _, wrong = await get_json(session, f"{base}/open/message/", params={"token": "f" * 32})
        assert wrong["ret"] == 301
        _, operator = await get_json(session, f"{base}/open/message/?token[$ne]=x")
        assert operator["ret"] == 300
        _, no_code = await post_json(session, f"{deployment.auth_url}/open/user/login", json={})
        assert no_code["ret"] == 304
        _, bad_code = await post_json(
            session, f"{deployment.auth_url}/open/user/login", json={"code": "zzzzz"}
        )
        assert bad_code["ret"] == 303
        _, op_code = await post_json(
            session, f"{deployment.auth_url}/open/user/login", json={"code": {"$ne": None}}
        )
        assert op_code["ret"] == 303

        # A good push still works afterwards, and it is the only message stored.
        _, good = await get_json(session, f"{base}/{key}/fine")
        assert good["ret"] == 0
        token = await sign_in(deployment, session, "bad@example.com")
        _, too_big_page = await get_json(
            session, f"{base}/open/message/", params={"token": token, "size": 51}
        )
        assert too_big_page["ret"] == 202

        await wait_for_inbox(deployment, session, token, 1)
        shown = (await inbox(deployment, session, token))["messages"]
        assert [m["body"]["content"] for m in shown] == ["fine"]
        assert (await stored_counts(deployment))["messages"] == 1


async def test_new_login_code_revokes_old_code_and_its_tokens(deployment: Deployment) -> None:
    deployment.cli_json("user", "create", "--email", "codes@example.com")
    async with aiohttp.ClientSession() as session:
        old_token = await sign_in(deployment, session, "codes@example.com")
        unused = deployment.cli_json("user", "login-code", "codes@example.com")["code"]
        # Issuing another code: the unused one and the old token stop working.
        new_token = await sign_in(deployment, session, "codes@example.com")
        _, old = await get_json(
            session, f"{deployment.gateway_url}/open/message/", params={"token": old_token}
        )
        assert old["ret"] == 301
        _, reused = await post_json(session, f"{deployment.auth_url}/open/user/login", json={"code": unused})
        assert reused["ret"] == 303
        _, fresh = await get_json(
            session, f"{deployment.gateway_url}/open/message/", params={"token": new_token}
        )
        assert fresh["ret"] == 0
