"""A push travels gateway → bus → dispatcher → inbox, as a user sees it, in both run modes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.integration.processes import Deployment
from tests.waiting import eventually


async def get_json(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with session.get(url, **kwargs) as response:
        return response.status, await response.json()


async def post_json(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with session.post(url, **kwargs) as response:
        return response.status, await response.json()


async def sign_in(deployment: Deployment, session: aiohttp.ClientSession, email: str) -> str:
    code = deployment.cli_json("user", "login-code", email)["code"]
    assert len(code) == 6
    status, answer = await post_json(session, f"{deployment.auth_url}/open/user/login", json={"code": code})
    assert (status, answer["ret"]) == (200, 0), answer
    token: str = answer["data"]["token"]
    return token


async def inbox(
    deployment: Deployment, session: aiohttp.ClientSession, token: str, **query: Any
) -> dict[str, Any]:
    status, answer = await get_json(
        session, f"{deployment.gateway_url}/open/message/", params={"token": token, **query}
    )
    assert (status, answer["ret"]) == (200, 0), answer
    data: dict[str, Any] = answer["data"]
    return data


async def wait_for_inbox(
    deployment: Deployment, session: aiohttp.ClientSession, token: str, count: int, *, timeout: float = 30.0
) -> None:
    """Until the inbox holds exactly `count` messages: delivery is asynchronous."""

    async def holds() -> bool:
        return bool((await inbox(deployment, session, token))["count"] == count)

    await eventually(holds, timeout=timeout, what=f"{count} messages in the inbox")


async def test_pushes_reach_the_inbox_with_status(deployment: Deployment) -> None:
    user = deployment.cli_json("user", "create", "--email", "me@example.com")
    key = user["key"]
    assert len(key) == 24 and all(c in "0123456789abcdef" for c in key)
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        status, first = await get_json(session, f"{base}/{key}/hello")
        assert (status, first["ret"], first["errMsg"]) == (200, 0, "success")
        title, content = quote("Tit le", safe=""), quote("Bo/dy & more", safe="")
        status, second = await get_json(session, f"{base}/{key}/{title}/{content}")
        assert (status, second["ret"]) == (200, 0)
        status, third = await post_json(
            session,
            f"{base}/{key}",
            json={"title": "t", "content": "c", "url": "https://x", "copy": "c2", "detail": {"a": 1}},
        )
        assert (status, third["ret"]) == (200, 0)
        ids = [answer["data"]["id"] for answer in (first, second, third)]
        assert len(set(ids)) == 3 and all(len(i) == 24 for i in ids)

        token = await sign_in(deployment, session, "me@example.com")

        await wait_for_inbox(deployment, session, token, 3)
        data = await inbox(deployment, session, token, index=1, size=20)
        newest, middle, oldest = data["messages"]
        assert [m["id"] for m in data["messages"]] == list(reversed(ids))
        assert oldest["body"] == {
            "title": "",
            "content": "hello",
            "url": "",
            "automaticallyCopy": 1,
            "copyText": "",
        }
        assert middle["body"]["title"] == "Tit le" and middle["body"]["content"] == "Bo/dy & more"
        assert newest["body"] == {
            "title": "t",
            "content": "c",
            "url": "https://x",
            "automaticallyCopy": 1,
            "copyText": "c2",
        }
        assert newest["extra"] == {"detail": {"a": 1}}
        assert newest["read"] is False and newest["mode"] == "inbox" and newest["app"] == "iGot"
        assert newest["createTime"].endswith("Z") and len(newest["createTime"]) == len(
            "2019-11-29T08:44:43.430Z"
        )

        # Detail marks read and shows the delivery status the dispatcher wrote.
        status, detail = await get_json(session, f"{base}/open/message/{ids[2]}", params={"token": token})
        assert detail["ret"] == 0
        assert detail["data"]["message"]["read"] is True
        assert detail["data"]["message"]["delivery"]["status"] == "delivered"
        assert [a["way"] for a in detail["data"]["message"]["delivery"]["attempts"]] == ["inbox"]
        # Mark read through POST; the list reflects both.
        status, marked = await post_json(session, f"{base}/open/message/{ids[1]}", params={"token": token})
        assert marked["ret"] == 0
        reads = {m["id"]: m["read"] for m in (await inbox(deployment, session, token))["messages"]}
        assert reads == {ids[0]: False, ids[1]: True, ids[2]: True}

        # The command line sends through the same ingress.
        sent = json.loads(deployment.cli("push", key, "from the CLI", "--title", "cli", "--server", base))
        assert sent["ret"] == 0 and len(sent["data"]["id"]) == 24
        await wait_for_inbox(deployment, session, token, 4)
        ids.append(sent["data"]["id"])

        # Paging: size 2, second page holds the oldest.
        page2 = await inbox(deployment, session, token, index=2, size=2)
        assert [m["id"] for m in page2["messages"]] == [ids[1], ids[0]] and page2["count"] == 4


async def test_form_and_query_pushes_and_idempotency(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "form@example.com")["key"]
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        status, by_form = await post_json(
            session,
            f"{base}/{key}",
            data={"title": "from a form", "content": "body", "automaticallyCopy": "0"},
        )
        assert (status, by_form["ret"]) == (200, 0), by_form
        status, by_query = await get_json(session, f"{base}/{key}", params={"content": "q", "title": "qt"})
        assert (status, by_query["ret"]) == (200, 0), by_query
        headers = {"Idempotency-Key": "order-42"}
        _, once = await post_json(session, f"{base}/{key}", json={"content": "paid"}, headers=headers)
        _, twice = await post_json(session, f"{base}/{key}", json={"content": "paid"}, headers=headers)
        assert once["ret"] == twice["ret"] == 0 and once["data"]["id"] == twice["data"]["id"]

        token = await sign_in(deployment, session, "form@example.com")

        await wait_for_inbox(deployment, session, token, 3)  # form, query, one idempotent message
        messages = (await inbox(deployment, session, token))["messages"]
        by_title = {m["body"]["title"]: m for m in messages}
        assert by_title["from a form"]["body"]["automaticallyCopy"] == 0
        assert by_title["qt"]["body"]["content"] == "q"
        assert [m["body"]["content"] for m in messages].count("paid") == 1
