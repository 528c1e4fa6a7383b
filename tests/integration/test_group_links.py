"""Group links over HTTP, in both run modes: the creator makes links (open or private), the market lists
the open ones, users subscribe by the public id (strong or weak, topics), the creator sees subscribers
and manages topics, renames, closes and deletes; the subscribe page and its QR code. Every answer a
non-owner gets is checked for the push key, which only its creator may ever see.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from shared.data import group_links, keys
from shared.ids import now_ms
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import post_json
from tests.integration.test_temporary_links_qr import png_modules, segno_modules


class Client:
    """The group-link and subscription API as one signed-in user calls it; keeps every answer's text."""

    def __init__(self, deployment: Deployment, session: aiohttp.ClientSession, token: str) -> None:
        self.auth = deployment.auth_url
        self.session = session
        self.token = token
        self.seen: list[str] = []

    async def get(self, path: str, **query: Any) -> dict[str, Any]:
        async with self.session.get(f"{self.auth}{path}", params={"token": self.token, **query}) as response:
            self.seen.append(await response.text())
            assert response.status == 200, self.seen[-1]
            answer: dict[str, Any] = await response.json()
            return answer

    async def post(self, path: str, body: Any = None) -> dict[str, Any]:
        async with self.session.post(
            f"{self.auth}{path}", params={"token": self.token}, json=body if body is not None else {}
        ) as response:
            self.seen.append(await response.text())
            assert response.status == 200, self.seen[-1]
            answer: dict[str, Any] = await response.json()
            return answer

    async def data(self, path: str, **query: Any) -> dict[str, Any]:
        answer = await self.get(path, **query)
        assert answer["ret"] == 0, answer
        data: dict[str, Any] = answer["data"]
        return data


async def signed_in(deployment: Deployment, session: aiohttp.ClientSession, email: str) -> Client:
    deployment.cli_json("user", "create", "--email", email)
    code = deployment.cli_json("user", "login-code", email)["code"]
    _, answer = await post_json(session, f"{deployment.auth_url}/open/user/login", json={"code": code})
    assert answer["ret"] == 0, answer
    return Client(deployment, session, answer["data"]["token"])


async def stored_links(deployment: Deployment) -> list[dict[str, Any]]:
    store = deployment.open_store()
    try:
        return await store.collection(keys.COLLECTION).find({"kind": "group"})
    finally:
        await store.close()


async def add_topics(deployment: Deployment, link_id: str, *names: str) -> None:
    """What a push with a new `topic` does (the fanout part): create the topic on first use."""
    store = deployment.open_store()
    try:
        for name in names:
            assert await group_links.ensure_topic(store, link_id, name, now=now_ms())
            assert not await group_links.ensure_topic(store, link_id, name, now=now_ms())
    finally:
        await store.close()


async def test_a_creator_shares_a_link_users_subscribe_and_never_see_its_key(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        creator = await signed_in(deployment, session, "creator@example.com")
        alice = await signed_in(deployment, session, "alice@example.com")
        bob = await signed_in(deployment, session, "bob@example.com")

        made = await creator.post("/open/link/group", {"name": " smog alerts ", "open": True})
        assert made["ret"] == 0 and set(made["data"]) == {"key", "id"}, made
        key, link_id = made["data"]["key"], made["data"]["id"]
        private = await creator.post("/open/link/group", {"name": "team", "open": 0})
        private_key, private_id = private["data"]["key"], private["data"]["id"]
        assert len({key, link_id, private_key, private_id}) == 4

        listed = await creator.data("/open/link/group")
        subscribe_qr = listed["links"][1]["subscribe"]
        public_url = subscribe_qr.removesuffix(f"/s/{link_id}/qr.png")
        assert public_url.startswith("http://") and subscribe_qr != public_url
        assert listed["count"] == 2
        assert listed["links"][1] == {
            "key": key,
            "name": "smog alerts",
            "subscribe": subscribe_qr,
            "id": link_id,
            "open": True,
            "status": "active",
            "subscribers": 0,
        }
        assert listed["links"][0]["open"] is False

        market = await alice.data("/open/link/group/market")
        assert market == {
            "links": [{"name": "smog alerts", "subscribe": subscribe_qr, "id": link_id, "subscribers": 0}],
            "count": 1,
        }

        # The subscribe page and its QR code, for anyone, signed in or not.
        async with session.get(f"{deployment.auth_url}/s/{link_id}") as response:
            page = await response.text()
            assert (response.status, response.content_type) == (200, "text/html")
            assert response.headers["Cache-Control"] == "no-store"
            assert "script-src" not in response.headers["Content-Security-Policy"]
            assert "img-src 'self'" in response.headers["Content-Security-Policy"]
        assert "smog alerts" in page and "0 subscribers" in page and f"/s/{link_id}/qr.png" in page
        assert f"/open/subscription/{link_id}" in page and "<script" not in page
        async with session.get(f"{deployment.auth_url}/s/{link_id}/qr.png") as response:
            assert (response.status, response.content_type) == (200, "image/png")
            png = await response.read()
        assert png_modules(png) == segno_modules(f"{public_url}/s/{link_id}")
        async with session.get(f"{deployment.auth_url}/s/{'0' * 24}") as response:
            assert response.status == 404
        async with session.get(f"{deployment.auth_url}/s/nonsense/qr.png") as response:
            assert response.status == 404 and (await response.json())["ret"] == 203

        # Alice subscribes to every topic, weakly; Bob to one topic; the creator to their own link.
        sub = await alice.post(f"/open/subscription/{link_id}", {"strong": False})
        assert sub == {
            "ret": 0,
            "data": {"id": link_id, "name": "smog alerts", "strong": False, "topics": [], "status": "active"},
            "errMsg": "success",
        }
        assert (await bob.post(f"/open/subscription/{link_id}", {"topics": ["beijing", " beijing"]}))[
            "ret"
        ] == 0
        assert (await creator.post(f"/open/subscription/{link_id}", {"strong": "1"}))["ret"] == 0
        assert (await bob.post(f"/open/subscription/{private_id}", {}))["ret"] == 0
        assert await bob.data("/open/subscription") == {
            "subscriptions": [
                {"id": private_id, "name": "team", "strong": True, "topics": [], "status": "active"},
                {
                    "id": link_id,
                    "name": "smog alerts",
                    "strong": True,
                    "topics": ["beijing"],
                    "status": "active",
                },
            ],
            "count": 2,
        }
        # Changing one's choices is subscribing again.
        assert (await alice.post(f"/open/subscription/{link_id}", {"strong": True, "topics": ["tianjin"]}))[
            "ret"
        ] == 0
        assert (await alice.data("/open/subscription"))["subscriptions"][0]["topics"] == ["tianjin"]

        seen = await creator.data(f"/open/link/group/{key}/subscribers")
        assert seen["count"] == 3
        assert [(s["user"], s["strong"], s["topics"]) for s in seen["subscribers"]] == [
            ("c***@example.com", True, []),
            ("b***@example.com", True, ["beijing"]),
            ("a***@example.com", True, ["tianjin"]),
        ]
        assert (await creator.data("/open/link/group"))["links"][1]["subscribers"] == 3
        assert (await bob.data("/open/link/group/market"))["links"][0]["subscribers"] == 3

        # Topics: created on first use by a push; renamed (choices follow) and deleted by the creator.
        await add_topics(deployment, link_id, "beijing", "tianjin")
        topics = (await creator.data(f"/open/link/group/{key}/topics"))["topics"]
        assert [t["name"] for t in topics] == ["beijing", "tianjin"]
        renamed = await creator.post(
            f"/open/link/group/{key}/topics/rename", {"name": "beijing", "to": "peking"}
        )
        assert renamed["ret"] == 0, renamed
        assert (await bob.data("/open/subscription"))["subscriptions"][1]["topics"] == ["peking"]
        clash = {"name": "peking", "to": "tianjin"}
        assert (await creator.post(f"/open/link/group/{key}/topics/rename", clash))["ret"] == 208
        missing = {"name": "nowhere", "to": "x"}
        assert (await creator.post(f"/open/link/group/{key}/topics/rename", missing))["ret"] == 203
        assert (await creator.post(f"/open/link/group/{key}/topics/delete", {"name": "tianjin"}))["ret"] == 0
        assert (await creator.post(f"/open/link/group/{key}/topics/delete", {"name": "tianjin"}))[
            "ret"
        ] == 203
        assert [t["name"] for t in (await creator.data(f"/open/link/group/{key}/topics"))["topics"]] == [
            "peking"
        ]

        # Nobody but the creator reaches the creator's routes, whatever they send.
        for path in ("subscribers", "topics"):
            assert (await alice.get(f"/open/link/group/{key}/{path}"))["ret"] == 203
            assert (await alice.get(f"/open/link/group/{link_id}/{path}"))["ret"] == 203
        for action, body in (
            ("rename", {"name": "mine"}),
            ("close", {}),
            ("delete", {}),
            ("topics/rename", {"name": "peking", "to": "x"}),
            ("topics/delete", {"name": "peking"}),
        ):
            assert (await alice.post(f"/open/link/group/{key}/{action}", body))["ret"] == 203
            assert (await alice.post(f"/open/link/group/{link_id}/{action}", body))["ret"] == 203
        assert sorted(link["name"] for link in await stored_links(deployment)) == ["smog alerts", "team"]

        assert (await creator.post(f"/open/link/group/{key}/rename", {"name": "haze"}))["ret"] == 0
        assert (await alice.data("/open/subscription"))["subscriptions"][0]["name"] == "haze"

        # Closed: no new subscribers, out of the market, the page says so; subscribers stay.
        assert (await creator.post(f"/open/link/group/{key}/close"))["ret"] == 0
        assert (await creator.post(f"/open/link/group/{key}/close"))["ret"] == 208
        carol = await signed_in(deployment, session, "carol@example.com")
        assert (await carol.post(f"/open/subscription/{link_id}", {}))["ret"] == 208
        assert (await carol.data("/open/link/group/market")) == {"links": [], "count": 0}
        async with session.get(f"{deployment.auth_url}/s/{link_id}") as response:
            assert response.status == 410
        assert (await creator.data(f"/open/link/group/{key}/subscribers"))["count"] == 3
        assert (await alice.data("/open/subscription"))["subscriptions"][0]["status"] == "closed"

        # Cancel, then deleted: gone for everyone, with its subscriptions.
        assert (await alice.post(f"/open/subscription/{link_id}/cancel"))["ret"] == 0
        assert (await alice.post(f"/open/subscription/{link_id}/cancel"))["ret"] == 203
        assert (await alice.data("/open/subscription")) == {"subscriptions": [], "count": 0}
        assert (await creator.post(f"/open/link/group/{key}/delete"))["ret"] == 0
        assert (await creator.post(f"/open/link/group/{key}/delete"))["ret"] == 203
        assert (await creator.get(f"/open/link/group/{key}/subscribers"))["ret"] == 203
        assert (await creator.data("/open/link/group"))["count"] == 1
        assert (await bob.post(f"/open/subscription/{link_id}", {}))["ret"] == 203
        assert [s["id"] for s in (await bob.data("/open/subscription"))["subscriptions"]] == [private_id]
        async with session.get(f"{deployment.auth_url}/s/{link_id}/qr.png") as response:
            assert response.status == 404

        # Every answer a non-owner got: never a push key.
        for other in (alice, bob, carol):
            assert other.seen
            for text in other.seen:
                assert key not in text and private_key not in text


async def test_bad_input_is_refused_and_nothing_is_stored(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        user = await signed_in(deployment, session, "picky@example.com")
        for body in (
            {},
            {"name": ""},
            {"name": "x" * 33},
            {"name": "two\nlines"},
            {"name": 5},
            {"name": "ok", "open": "maybe"},
            {"name": "ok", "open": 2},
            {"name": "ok", "open": [True]},
        ):
            assert (await user.post("/open/link/group", body))["ret"] == 202, body
        assert await stored_links(deployment) == []
        for query in ({"index": "0"}, {"size": "51"}, {"index": "+1"}):
            assert (await user.get("/open/link/group", **query))["ret"] == 202
            assert (await user.get("/open/link/group/market", **query))["ret"] == 202
            assert (await user.get("/open/subscription", **query))["ret"] == 202
        async with session.get(f"{deployment.auth_url}/open/link/group") as response:
            assert (await response.json())["ret"] != 0  # no token

        link = await user.post("/open/link/group", {"name": "feed"})
        key, link_id = link["data"]["key"], link["data"]["id"]
        bad_choices: list[dict[str, Any]] = [
            {"strong": "sometimes"},
            {"topics": "beijing"},
            {"topics": [""]},
            {"topics": ["x" * 65]},
            {"topics": [1]},
            {"topics": [f"t{i}" for i in range(21)]},
        ]
        for body in bad_choices:
            assert (await user.post(f"/open/subscription/{link_id}", body))["ret"] == 202, body
        assert (await user.post("/open/subscription/nonsense", {}))["ret"] == 203
        assert (await user.post(f"/open/subscription/{key}", {}))["ret"] == 203  # a key is no subscribe id
        assert (await user.data("/open/subscription"))["count"] == 0
        for body in ({}, {"name": "a"}, {"name": "a", "to": ""}, {"name": "a", "to": "x" * 65}):
            assert (await user.post(f"/open/link/group/{key}/topics/rename", body))["ret"] == 202, body
        assert (await user.post(f"/open/link/group/{key}/rename", {"name": ""}))["ret"] == 202
        assert [doc["name"] for doc in await stored_links(deployment)] == ["feed"]
        assert (await user.post("/open/link/group/nonsense/close"))["ret"] == 203
