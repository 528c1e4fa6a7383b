"""An account's owner exports everything and deletes the account over HTTP, in both run modes: the code
arrives by e-mail (a real local SMTP server), wrong codes are refused and five of them kill the code, the
keys answer 410 at once, the purge empties the store, and the address can sign up again."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.auth.data import users
from shared.data import inbox, keys, messages, push_ways, tokens
from tests.fakes.smtp_server import SmtpServer
from tests.integration.conftest import deployed
from tests.integration.processes import Deployment
from tests.waiting import eventually

# The purge waits this long after a deletion: time enough to see the keys refused before they are gone.
PURGE_GRACE_SECONDS = 5
CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class Running:
    deployment: Deployment
    smtp: SmtpServer
    session: aiohttp.ClientSession

    async def auth(self, method: str, path: str, token: str | None, **fields: Any) -> dict[str, Any]:
        params = {"token": token} if token is not None else {}
        kwargs: dict[str, Any] = {"json": fields} if fields else {}
        url = f"{self.deployment.auth_url}{path}"
        async with self.session.request(method, url, params=params, **kwargs) as response:
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer

    async def push(self, key: str, content: str) -> tuple[int, dict[str, Any]]:
        async with self.session.post(
            f"{self.deployment.gateway_url}/{key}", json={"content": content}
        ) as response:
            return response.status, await response.json()

    async def inbox_count(self, token: str) -> dict[str, Any]:
        url = f"{self.deployment.gateway_url}/open/message/"
        async with self.session.get(url, params={"token": token}) as response:
            answer: dict[str, Any] = await response.json()
            return answer

    async def refused_as_gone(self, key: str) -> None:
        """Pushes to `key` answer 204 / HTTP 410 (the announcement reaches the gateway within moments)."""

        async def gone() -> bool:
            status, answer = await self.push(key, "after")
            return (status, answer["ret"]) == (410, 204)

        await eventually(gone, timeout=PURGE_GRACE_SECONDS, what="the key refused as gone")

    async def sign_in(self, email: str) -> str:
        code = self.deployment.cli_json("user", "login-code", email)["code"]
        answer = await self.auth("POST", "/open/user/login", None, code=code)
        assert answer["ret"] == 0, answer
        token: str = answer["data"]["token"]
        return token

    async def deletion_code(self, email: str, nth: int) -> str:
        """The code of the `nth` deletion mail to `email` (from 1)."""

        def mails() -> list[str]:
            return [
                str(mail.message["Subject"])
                for mail in self.smtp.mails
                if email in mail.rcpt_tos and "deleting" in str(mail.message["Subject"])
            ]

        await eventually(lambda: len(mails()) >= nth, timeout=30, what="the deletion code mail")
        found = CODE.search(mails()[nth - 1])
        assert found is not None
        return found.group(1)


@pytest.fixture(params=["standalone", "distributed"])
async def running(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Running]:
    smtp = SmtpServer()
    smtp.start()
    settings = {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(smtp.port),
        "smtp_from": "iGot <push@example.com>",
        "account_purge_interval_seconds": "0.3",
        "account_purge_grace_seconds": str(PURGE_GRACE_SECONDS),
        "account_deletion_mail_interval_seconds": "0",
        # Only the deletion's announcement can make the gateway drop a key it holds this long.
        "key_cache_ttl_seconds": "600",
    }
    try:
        async with (
            deployed(request.param, tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
            aiohttp.ClientSession() as session,
        ):
            yield Running(deployment, smtp, session)
    finally:
        smtp.stop()


async def leftovers(deployment: Deployment, user_id: str) -> dict[str, int]:
    store = deployment.open_store()
    try:
        return {
            "users": await store.collection(users.COLLECTION).count({"_id": user_id}),
            "keys": await store.collection(keys.COLLECTION).count({"userId": user_id}),
            "inbox": await store.collection(inbox.COLLECTION).count({"userId": user_id}),
            "messages": await store.collection(messages.COLLECTION).count({"senderId": user_id}),
            "push_ways": await store.collection(push_ways.COLLECTION).count({"_id": user_id}),
            "tokens": await store.collection(tokens.COLLECTION).count({"userId": user_id}),
        }
    finally:
        await store.close()


async def test_export_then_delete_with_a_mailed_code_then_purge_then_sign_up_again(running: Running) -> None:
    email = "alice@example.com"
    user = running.deployment.cli_json("user", "create", "--email", email)
    token = await running.sign_in(email)
    assert (await running.push(user["key"], "hello"))[1]["ret"] == 0
    assert (await running.push(user["key"], "second"))[1]["ret"] == 0
    assert (await running.auth("POST", "/open/push-way/email/bind", token, key=email))["ret"] == 0

    async def delivered() -> bool:
        return bool((await running.inbox_count(token))["data"]["count"] == 2)

    await eventually(delivered, what="both pushes in the inbox")

    url = f"{running.deployment.auth_url}/open/user/export"
    async with running.session.get(url, params={"token": token}) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert response.headers["Content-Disposition"] == 'attachment; filename="igot-export.json"'
        assert response.headers["X-Trace-Id"]
        raw = await response.read()
    exported = json.loads(raw)
    assert (exported["ret"], exported["errMsg"]) == (0, "success")
    data = exported["data"]
    assert data["account"] == {
        "id": user["id"],
        "email": email,
        "key": user["key"],
        "status": "active",
        "createdAt": data["account"]["createdAt"],
    }
    assert [shown["body"]["content"] for shown in data["messages"]] == ["second", "hello"]
    assert data["pushWays"]["email"]["key"] == email and data["pushWays"]["email"]["status"] == 1
    assert "unsubscribe" not in data["pushWays"]["email"]
    assert len(data["sessions"]) == 1 and token.encode() not in raw

    # Deleting: the first call mails a code, a wrong code changes nothing, the right one closes the account.
    asked = await running.auth("POST", "/open/user/delete", token)
    assert asked["ret"] == 0 and asked["data"]["confirm"], asked
    code = await running.deletion_code(email, 1)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert (await running.auth("POST", "/open/user/delete", token, code=wrong))["ret"] == 303
    assert (await running.push(user["key"], "still here"))[1]["ret"] == 0
    confirmed = await running.auth("POST", "/open/user/delete", token, code=code)
    assert confirmed["ret"] == 0 and confirmed["data"]["deleted"] is True, confirmed

    await running.refused_as_gone(user["key"])
    assert (await running.inbox_count(token))["ret"] == 301

    async def purged() -> bool:
        return set((await leftovers(running.deployment, user["id"])).values()) == {0}

    await eventually(purged, timeout=60, what="the purge of the account")

    again = running.deployment.cli_json("user", "create", "--email", email)
    assert again["id"] != user["id"]
    assert (await running.push(again["key"], "back"))[1]["ret"] == 0


async def test_delete_refuses_bad_input_and_five_wrong_codes_kill_the_code(running: Running) -> None:
    email = "bob@example.com"
    user = running.deployment.cli_json("user", "create", "--email", email)
    token = await running.sign_in(email)

    assert (await running.auth("POST", "/open/user/delete", None))["ret"] == 300
    assert (await running.auth("POST", "/open/user/delete", "f" * 32))["ret"] == 301
    assert (await running.auth("GET", "/open/user/export", None))["ret"] == 300
    assert (await running.auth("POST", "/open/user/delete", token, code="123456"))["ret"] == 303  # none sent
    assert (await running.auth("POST", "/open/user/delete", token, code={"$ne": None}))["ret"] == 202
    assert (await running.auth("POST", "/open/user/delete", token, code=""))["ret"] == 304
    async with running.session.head(
        f"{running.deployment.auth_url}/open/user/export", params={"token": token}
    ) as response:
        # Refused (a large read is no HEAD's business): no download begins.
        assert "Content-Disposition" not in response.headers

    assert (await running.auth("POST", "/open/user/delete", token))["ret"] == 0
    code = await running.deletion_code(email, 1)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        refused = await running.auth("POST", "/open/user/delete", token, code=wrong)
        assert (refused["ret"], refused["errMsg"]) == (303, "the confirmation code is wrong")
    dead = await running.auth("POST", "/open/user/delete", token, code=code)
    assert dead["ret"] == 303 and "too many" in dead["errMsg"]
    # Nothing happened to the account: it still pushes and its session still works.
    assert (await running.push(user["key"], "alive"))[1]["ret"] == 0
    assert (await running.inbox_count(token))["ret"] == 0
    left = await leftovers(running.deployment, user["id"])
    assert (left["users"], left["keys"], left["tokens"]) == (1, 1, 1)

    # A new code works.
    assert (await running.auth("POST", "/open/user/delete", token))["ret"] == 0
    fresh = await running.deletion_code(email, 2)
    assert (await running.auth("POST", "/open/user/delete", token, code=fresh))["ret"] == 0
    await running.refused_as_gone(user["key"])
