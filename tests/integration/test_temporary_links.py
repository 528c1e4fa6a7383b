"""Temporary links over HTTP, in both run modes: hand one out, push through it, pause, resume, rename,
delete; expiry, the list with its counts, the per-user limit, other users' keys, the QR code, bad input.

A change reaches the gateways' key caches through the bus; pushes right after one are retried until the
change shows (`eventually`), and every push that was accepted meanwhile is counted, so that the counts
the list shows can be checked exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from shared.data import keys, messages
from shared.ids import new_push_key, now_ms
from shared.settings import Settings
from shared.timefmt import iso_ms
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import get_json, inbox, post_json, wait_for_inbox
from tests.integration.test_temporary_links_qr import png_modules, segno_modules
from tests.waiting import eventually

ACTIONS = ("pause", "resume", "delete")


class Links:
    """The temporary-link API as one signed-in user calls it."""

    def __init__(self, deployment: Deployment, session: aiohttp.ClientSession, token: str) -> None:
        self.base = f"{deployment.auth_url}/open/link/temporary"
        self.session = session
        self.token = token

    async def create(self, name: object) -> dict[str, Any]:
        _, answer = await post_json(
            self.session, self.base, params={"token": self.token}, json={"name": name}
        )
        return answer

    async def listing(self, **query: Any) -> dict[str, Any]:
        status, answer = await get_json(self.session, self.base, params={"token": self.token, **query})
        assert (status, answer["ret"]) == (200, 0), answer
        data: dict[str, Any] = answer["data"]
        return data

    async def act(self, key: str, action: str, **body: Any) -> dict[str, Any]:
        status, answer = await post_json(
            self.session, f"{self.base}/{key}/{action}", params={"token": self.token}, json=body
        )
        assert status == 200, answer
        return answer

    async def qr(self, key: str, token: str | None = None) -> tuple[int, str, dict[str, str], bytes]:
        params = {"token": self.token if token is None else token}
        async with self.session.get(f"{self.base}/{key}/qr.png", params=params) as response:
            return response.status, response.content_type, dict(response.headers), await response.read()


async def push(deployment: Deployment, session: aiohttp.ClientSession, key: str) -> tuple[int, int]:
    async with session.get(f"{deployment.gateway_url}/{key}/hello") as response:
        return response.status, (await response.json())["ret"]


class Pusher:
    """Pushes through one key, counting what was accepted."""

    def __init__(self, deployment: Deployment, session: aiohttp.ClientSession, key: str) -> None:
        self.deployment, self.session, self.key = deployment, session, key
        self.accepted = 0

    async def send(self) -> tuple[int, int]:
        answer = await push(self.deployment, self.session, self.key)
        self.accepted += answer == (200, 0)
        return answer

    async def until(self, expected: tuple[int, int]) -> None:
        """Push until the answer is `expected` (a change reaches the gateways' caches through the bus)."""

        async def answered() -> bool:
            return await self.send() == expected

        await eventually(answered, timeout=15, what=f"pushes answered {expected}")


async def signed_in(deployment: Deployment, session: aiohttp.ClientSession, email: str) -> tuple[str, Links]:
    """A new user's fixed key and the link API as that user."""
    key: str = deployment.cli_json("user", "create", "--email", email)["key"]
    code = deployment.cli_json("user", "login-code", email)["code"]
    _, answer = await post_json(session, f"{deployment.auth_url}/open/user/login", json={"code": code})
    assert answer["ret"] == 0, answer
    return key, Links(deployment, session, answer["data"]["token"])


async def stored_messages(deployment: Deployment) -> list[dict[str, Any]]:
    store = deployment.open_store()
    try:
        return await store.collection(messages.COLLECTION).find({})
    finally:
        await store.close()


async def expire_in_store(deployment: Deployment, key: str) -> None:
    store = deployment.open_store()
    try:
        await store.collection(keys.COLLECTION).update_one(
            {"_id": key}, {"$set": {"expiresAt": now_ms() - 1}}
        )
    finally:
        await store.close()


async def newest_source(deployment: Deployment, session: aiohttp.ClientSession, links: Links) -> str:
    newest = (await inbox(deployment, session, links.token))["messages"][0]
    source: str = newest["source"]
    return source


async def test_a_link_works_until_paused_again_once_resumed_carries_its_new_name_and_goes_when_deleted(
    deployment: Deployment,
) -> None:
    async with aiohttp.ClientSession() as session:
        _, links = await signed_in(deployment, session, "links@example.com")
        created = await links.create("  build bot ")
        assert created["ret"] == 0, created
        key, expire_at = created["data"]["key"], created["data"]["expireAt"]
        assert keys_look_alike(key) and set(created["data"]) == {"key", "expireAt"}
        in_90_days = datetime.now(UTC) + timedelta(days=90)
        assert abs(datetime.fromisoformat(expire_at) - in_90_days) < timedelta(minutes=5)
        sender = Pusher(deployment, session, key)

        assert await sender.send() == (200, 0)
        await wait_for_inbox(deployment, session, links.token, 1)
        assert await newest_source(deployment, session, links) == "build bot"
        (first,) = (await inbox(deployment, session, links.token))["messages"]
        assert await links.listing() == {
            "links": [
                {
                    "key": key,
                    "name": "build bot",
                    "status": "active",
                    "expireAt": expire_at,
                    "messages": 1,
                    "lastUsed": first["createTime"],
                }
            ],
            "count": 1,
        }

        assert (await links.act(key, "pause"))["ret"] == 0
        await sender.until((403, 204))
        assert (await links.listing())["links"][0]["status"] == "paused"
        assert (await links.act(key, "pause"))["ret"] == 208
        await wait_for_inbox(deployment, session, links.token, sender.accepted)
        assert await sender.send() == (403, 204)  # refused, and nothing stored
        await wait_for_inbox(deployment, session, links.token, sender.accepted)
        link_messages = [m for m in await stored_messages(deployment) if m.get("source")]
        assert len(link_messages) == sender.accepted

        assert (await links.act(key, "resume"))["ret"] == 0
        assert (await links.act(key, "resume"))["ret"] == 208
        await sender.until((200, 0))

        assert (await links.act(key, "rename", name="deploy bot"))["ret"] == 0

        async def carries_the_new_name() -> bool:
            assert await sender.send() == (200, 0)
            await wait_for_inbox(deployment, session, links.token, sender.accepted)
            return await newest_source(deployment, session, links) == "deploy bot"

        await eventually(carries_the_new_name, timeout=15, what="messages carrying the new name")
        (shown,) = (await links.listing())["links"]
        assert (shown["name"], shown["status"], shown["messages"]) == (
            "deploy bot",
            "active",
            sender.accepted,
        )
        newest = (await inbox(deployment, session, links.token))["messages"][0]
        assert shown["lastUsed"] == newest["createTime"]

        assert (await links.act(key, "delete"))["ret"] == 0
        await sender.until((410, 204))
        assert await links.listing() == {"links": [], "count": 0}
        for action in ACTIONS:
            assert (await links.act(key, action))["ret"] == 203
        assert (await links.act(key, "rename", name="again"))["ret"] == 203
        status, content_type, _, body = await links.qr(key)
        assert (status, content_type) == (200, "application/json") and b'"ret":203' in body

        # Messages name their link by its id, never by the key, which is a bearer secret.
        stored = await stored_messages(deployment)
        assert len(stored) == sender.accepted
        assert all(key not in repr(message) for message in stored)
        assert len({message["linkId"] for message in stored}) == 1


def keys_look_alike(key: str) -> bool:
    return len(key) == 24 and all(c in "0123456789abcdef" for c in key)


async def test_the_list_counts_each_links_messages_pages_newest_first_and_shows_expiry(
    deployment: Deployment,
) -> None:
    async with aiohttp.ClientSession() as session:
        fixed, links = await signed_in(deployment, session, "lister@example.com")
        made = [(await links.create(name))["data"]["key"] for name in ("alpha", "beta", "gamma", "old")]
        alpha, beta, gamma, old = made
        await expire_in_store(deployment, old)  # never pushed through, so no gateway holds it yet
        for key in (alpha, alpha, beta, fixed):
            assert await push(deployment, session, key) == (200, 0)
        assert await push(deployment, session, old) == (410, 204)
        await wait_for_inbox(deployment, session, links.token, 4)

        everything = await links.listing(size=50)
        assert everything["count"] == 4
        shown = {link["key"]: link for link in everything["links"]}
        expected = {alpha: ("active", 2), beta: ("active", 1), gamma: ("active", 0), old: ("expired", 0)}
        assert {key: (link["status"], link["messages"]) for key, link in shown.items()} == expected
        stored = await stored_messages(deployment)
        for key in (alpha, beta):
            link_id = await link_id_of(deployment, key)
            latest = max(m["createdAt"] for m in stored if m.get("linkId") == link_id)
            assert shown[key]["lastUsed"] == iso_ms(latest)
        assert shown[gamma]["lastUsed"] is None and shown[old]["lastUsed"] is None
        assert [m for m in stored if "source" not in m and "linkId" not in m] != []  # the fixed key's

        # Newest first, a page at a time.
        order = [link["key"] for link in everything["links"]]
        assert order == await newest_first(deployment, made)
        first, second = await links.listing(index=1, size=3), await links.listing(index=2, size=3)
        assert [link["key"] for link in first["links"] + second["links"]] == order
        assert (first["count"], second["count"], len(second["links"])) == (4, 4, 1)
        assert (await links.listing(index=3, size=3))["links"] == []

        # An expired link can only be deleted.
        for action in ("pause", "resume"):
            assert (await links.act(old, action))["ret"] == 208
        assert (await links.act(old, "rename", name="renewed"))["ret"] == 208
        assert (await links.act(old, "delete"))["ret"] == 0
        assert (await links.listing())["count"] == 3
        assert await push(deployment, session, old) == (410, 204)


async def newest_first(deployment: Deployment, made: list[str]) -> list[str]:
    """The keys by creation time, newest first (keys made in the same millisecond: by key, descending)."""
    store = deployment.open_store()
    try:
        docs = await store.collection(keys.COLLECTION).find({"_id": {"$in": made}})
    finally:
        await store.close()
    return [doc["_id"] for doc in sorted(docs, key=lambda doc: (doc["createdAt"], doc["_id"]), reverse=True)]


async def link_id_of(deployment: Deployment, key: str) -> str:
    store = deployment.open_store()
    try:
        found = await keys.get_by_value(store, key)
    finally:
        await store.close()
    assert found is not None and found.link_id is not None
    return found.link_id


async def test_each_user_has_a_limited_number_of_live_links(deployment: Deployment) -> None:
    limit = Settings.model_fields["temporary_links_per_user"].default
    async with aiohttp.ClientSession() as session:
        _, links = await signed_in(deployment, session, "many@example.com")
        made = []
        for n in range(limit):
            answer = await links.create(f"link {n}")
            assert answer["ret"] == 0, answer
            made.append(answer["data"]["key"])
        over = await links.create("one too many")
        assert (over["ret"], over["data"]) == (208, {})
        assert str(limit) in over["errMsg"]
        assert (await links.listing())["count"] == limit

        # Paused links count; expired and deleted ones leave room.
        assert (await links.act(made[0], "pause"))["ret"] == 0
        assert (await links.create("still too many"))["ret"] == 208
        await expire_in_store(deployment, made[1])
        assert (await links.create("in place of an expired one"))["ret"] == 0
        assert (await links.create("too many again"))["ret"] == 208
        assert (await links.act(made[2], "delete"))["ret"] == 0
        assert (await links.create("in place of a deleted one"))["ret"] == 0
        assert (await links.listing())["count"] == limit + 1  # the expired one is listed, and counts no more

        _, other = await signed_in(deployment, session, "few@example.com")
        assert (await other.create("mine"))["ret"] == 0


async def test_someone_elses_link_is_no_link_and_its_owner_gets_its_qr_code(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        owner_fixed, owner = await signed_in(deployment, session, "owner@example.com")
        _, stranger = await signed_in(deployment, session, "stranger@example.com")
        key = (await owner.create("shared"))["data"]["key"]

        unknown = new_push_key()
        for target in (key, unknown, owner_fixed):
            for action in ACTIONS:
                answer = await stranger.act(target, action)
                assert (answer["ret"], answer["errMsg"], answer["data"]) == (
                    203,
                    "no such temporary link",
                    {},
                )
            answer = await stranger.act(target, "rename", name="mine now")
            assert (answer["ret"], answer["errMsg"]) == (203, "no such temporary link")
            status, content_type, _, body = await stranger.qr(target)
            assert (status, content_type) == (200, "application/json")
        # Even its owner's fixed key is no temporary link.
        assert (await owner.act(owner_fixed, "pause"))["ret"] == 203
        assert await push(deployment, session, key) == (200, 0)
        (shown,) = (await owner.listing())["links"]
        assert (shown["name"], shown["status"]) == ("shared", "active")

        status, content_type, headers, png = await owner.qr(key)
        assert (status, content_type, headers["Cache-Control"]) == (200, "image/png", "no-store")
        # The auth process's public URL is its own address unless IGOT_PUBLIC_URL says otherwise.
        assert png_modules(png) == segno_modules(f"{deployment.auth_url}/{key}/")
        status, content_type, _, body = await owner.qr(key, token="")
        assert (status, content_type) == (200, "application/json")
        assert b'"ret":300' in body


async def test_bad_input_gets_a_clear_refusal_and_stores_nothing(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        _, links = await signed_in(deployment, session, "careful@example.com")
        base = links.base
        key = new_push_key()
        routes = [
            ("post", base),
            ("get", base),
            *(("post", f"{base}/{key}/{action}") for action in (*ACTIONS, "rename")),
            ("get", f"{base}/{key}/qr.png"),
        ]
        for token, ret in (("", 300), ("f" * 32, 301)):
            for method, url in routes:
                async with session.request(
                    method, url, params={"token": token}, json={"name": "x"}
                ) as response:
                    answer = await response.json()
                assert (response.status, answer["ret"], answer["data"]) == (200, ret, {}), (method, url)

        for name in ("", "   ", "x" * 33, "two\nlines", "a\u2028b", 7, None, ["x"], {"a": 1}):
            answer = await links.create(name)
            assert (answer["ret"], answer["data"]) == (202, {}), name
        for raw, content_type in (
            (b"{not json", "application/json"),
            (b"[1]", "application/json"),
            (b"name=", "application/x-www-form-urlencoded"),
            (b"", "application/json"),
        ):
            status, answer = await post_json(
                session, base, params={"token": links.token}, data=raw, headers={"Content-Type": content_type}
            )
            assert (status, answer["ret"]) == (200, 202), raw
        for query in ({"index": "0"}, {"size": "51"}, {"size": "x"}, {"index": "+1"}, {"size": "\uff11"}):
            status, answer = await get_json(session, base, params={"token": links.token, **query})
            assert (status, answer["ret"]) == (200, 202), query
        for not_a_key in ("short", key.upper(), "g" * 24, "0" * 25):
            for action in ACTIONS:
                assert (await links.act(not_a_key, action))["ret"] == 203, not_a_key

        real = await links.create("real")
        real_key = real["data"]["key"]
        for name in ("", "x" * 33, "a\rb", 3):
            assert (await links.act(real_key, "rename", name=name))["ret"] == 202
        assert (await links.act(real_key, "rename"))["ret"] == 202
        (shown,) = (await links.listing())["links"]
        assert shown["name"] == "real"

        # Only the one good creation was stored; a name of exactly 32 characters is fine once trimmed.
        assert (await links.create(" " + "字" * 32 + " "))["ret"] == 0
        names = [link["name"] for link in (await links.listing())["links"]]
        assert sorted(names) == sorted(["real", "字" * 32])
