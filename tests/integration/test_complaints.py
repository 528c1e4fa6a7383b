"""Receivers' complaints over HTTP, in both run modes: a subscriber complains about a push from a group
link (JSON, form or query), it is stored once and queued for review; a repeat changes nothing; one's own
messages, unknown ids and bad input are refused with nothing stored; and enough different complainers
within the window close the link, which then refuses pushes as a closed link does, while fewer do not.

The gateway caches keys far longer than the test waits, so a closed link can only be refused in time
through the announcement the closing makes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.data import complaints, group_links, moderation_reviews
from shared.data.moderation_reviews import review_id
from tests.integration.conftest import deployed
from tests.integration.processes import Deployment
from tests.integration.test_fanout import User, new_user, push
from tests.waiting import eventually

COMPLAINTS_TO_PAUSE = 3
KEY_CACHE_SECONDS = "600"  # longer than any wait below: only an announcement reaches the cache in time
ANNOUNCED_WITHIN_SECONDS = 10


@pytest.fixture(params=["standalone", "distributed"])
async def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Deployment]:
    settings = {
        "moderation_complaints_to_pause": str(COMPLAINTS_TO_PAUSE),
        "key_cache_ttl_seconds": KEY_CACHE_SECONDS,
    }
    async with deployed(request.param, tmp_path, amqp_url, mongo_url, namespace, **settings) as running:
        yield running


async def complain(user: User, entry_id: str, body: Any = None, **request: Any) -> dict[str, Any]:
    """`POST /open/message/{id}/complaint` as the user's client sends it (JSON body unless told)."""
    params = {"token": user.token, **request.pop("params", {})}
    if body is not None:
        request["json"] = body
    url = f"{user.deployment.gateway_url}/open/message/{entry_id}/complaint"
    async with user.session.post(url, params=params, **request) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def group_link(creator: User, *subscribers: User) -> tuple[str, str]:
    """A new link of `creator` (its key and public id) that each of `subscribers` follows, weakly."""
    made = await creator.auth("POST", "/open/link/group", {"name": "deals", "open": True})
    key, link_id = made["data"]["key"], made["data"]["id"]
    for user in subscribers:
        assert (await user.auth("POST", f"/open/subscription/{link_id}", {"strong": False}))["ret"] == 0
    return key, link_id


async def pushed_to(
    deployment: Deployment, key: str, content: str, *receivers: User
) -> tuple[str, list[str]]:
    """Push `content` to the link: the id the push returned, and each receiver's inbox entry id."""
    async with aiohttp.ClientSession() as session:
        status, answer = await push(session, deployment, key, content=content)
    assert (status, answer["ret"]) == (200, 0), answer
    entries: list[str] = []
    for user in receivers:

        async def arrived(user: User = user) -> bool:
            return any(m["body"]["content"] == content for m in await user.inbox())

        await eventually(arrived, what=f"{content!r} in a subscriber's inbox")
        entries.extend(m["id"] for m in await user.inbox() if m["body"]["content"] == content)
    return answer["data"]["id"], entries


async def stored_complaints(deployment: Deployment, message_id: str) -> int:
    store = deployment.open_store()
    try:
        return await complaints.count_for_message(store, message_id)
    finally:
        await store.close()


async def link_status(creator: User, link_id: str) -> str:
    listed = await creator.auth("GET", "/open/link/group")
    (status,) = [link["status"] for link in listed["data"]["links"] if link["id"] == link_id]
    return str(status)


async def test_a_complaint_is_stored_once_and_queued_for_review(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        creator = await new_user(deployment, session, "creator@example.com")
        alice = await new_user(deployment, session, "alice@example.com")
        bob = await new_user(deployment, session, "bob@example.com")
        key, link_id = await group_link(creator, alice, bob)
        message_id, (of_alice, of_bob) = await pushed_to(deployment, key, "cheap pills", alice, bob)

        assert await complain(alice, of_alice, {"reason": "  spam  "}) == {
            "ret": 0,
            "data": {},
            "errMsg": "success",
        }
        # A repeat (another reason, a form this time) is a success that changes nothing.
        repeat = await complain(alice, of_alice, data={"reason": "something else"})
        assert repeat["ret"] == 0, repeat
        # Bob gives his reason in the query.
        assert (await complain(bob, of_bob, params={"reason": "scam"}))["ret"] == 0

        store = deployment.open_store()
        try:
            stored = await complaints.get(store, message_id, alice.id)
            assert stored is not None
            assert (stored.reason, stored.link_id, stored.key_kind, stored.sender_id) == (
                "spam",
                link_id,
                "group",
                creator.id,
            )
            by_bob = await complaints.get(store, message_id, bob.id)
            assert by_bob is not None and by_bob.reason == "scam"
            assert await complaints.count_for_message(store, message_id) == 2
            review = await moderation_reviews.get(store, review_id(message_id, "complaint"))
            open_reviews, _ = await moderation_reviews.list_reviews(store, status="open")
        finally:
            await store.close()
        assert review is not None
        assert (review.kind, review.message_id, review.status, review.reason) == (
            "complaint",
            message_id,
            "open",
            "complaint: spam",
        )
        assert review.details == {"complaints": 1, "keyKind": "group", "linkId": link_id}
        assert [r.id for r in open_reviews if r.kind == "complaint"] == [review.id]
        # Two complainers are below the threshold: the link still takes pushes.
        assert await link_status(creator, link_id) == "active"
        status, answer = await push(session, deployment, key, content="still open")
        assert (status, answer["ret"]) == (200, 0), answer


async def test_own_messages_unknown_ids_and_bad_input_are_refused(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        creator = await new_user(deployment, session, "creator@example.com")
        alice = await new_user(deployment, session, "alice@example.com")
        key, _ = await group_link(creator, alice, creator)
        message_id, (of_alice, of_creator) = await pushed_to(deployment, key, "weekly", alice, creator)

        # Alice's own fixed key and her temporary link: nobody else to complain about.
        made = await alice.auth("POST", "/open/link/temporary", {"name": "build bot"})
        temporary = made["data"]["key"]
        own_key = (await alice.auth("GET", "/open/user/"))["data"]["key"]
        own_ids = []
        for sent_with in (own_key, temporary):
            status, answer = await push(session, deployment, sent_with, content="from me")
            assert (status, answer["ret"]) == (200, 0), answer
            own_ids.append(answer["data"]["id"])
        for own in own_ids:
            refused = await complain(alice, own, {"reason": "oops"})
            assert refused["ret"] == 208 and "own" in refused["errMsg"], refused
        # The creator, subscribed to their own link, and by the id their push returned.
        for own in (of_creator, message_id):
            refused = await complain(creator, own, {})
            assert refused["ret"] == 208 and "own key" in refused["errMsg"], refused

        # Unknown ids, and someone else's inbox entry, are not found.
        for unknown in ("0" * 24, "nonsense", of_creator, message_id):
            assert (await complain(alice, unknown, {}))["ret"] == 203, unknown
        # Bad input: too long, not text (JSON, form and query alike); nothing is stored.
        for request in (
            {"json": {"reason": "x" * 201}},
            {"json": {"reason": 5}},
            {"json": {"reason": ["spam"]}},
            {"json": {"reason": "bell\x07"}},
            {"data": {"reason": "y" * 201}},
            {"params": {"reason": "z" * 201}},
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        ):
            refused = await complain(alice, of_alice, **request)
            assert refused["ret"] == 202, (request, refused)
        async with session.post(f"{deployment.gateway_url}/open/message/{of_alice}/complaint") as response:
            assert (response.status, (await response.json())["ret"]) == (200, 300)
        assert await stored_complaints(deployment, message_id) == 0
        for own in own_ids:
            assert await stored_complaints(deployment, own) == 0
        # A reason of exactly 200 characters, or none at all, is fine.
        assert (await complain(alice, of_alice, {"reason": "r" * 200}))["ret"] == 0
        assert await stored_complaints(deployment, message_id) == 1


async def test_enough_complainers_close_the_link_and_fewer_do_not(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        creator = await new_user(deployment, session, "creator@example.com")
        subscribers = [await new_user(deployment, session, f"s{i}@example.com") for i in range(3)]
        first, second, third = subscribers
        key, link_id = await group_link(creator, *subscribers)
        other_key, other_id = await group_link(creator, *subscribers)
        _, one = await pushed_to(deployment, key, "offer one", *subscribers)
        _, two = await pushed_to(deployment, key, "offer two", *subscribers)
        _, elsewhere = await pushed_to(deployment, other_key, "other link", *subscribers)

        # One receiver complaining about two messages is one complainer; with a second that makes two,
        # below the threshold of three. Complaints about another link count for that link only.
        assert (await complain(first, one[0]))["ret"] == 0
        assert (await complain(first, two[0]))["ret"] == 0
        assert (await complain(second, one[1]))["ret"] == 0
        assert (await complain(third, elsewhere[2]))["ret"] == 0
        assert await link_status(creator, link_id) == "active"
        assert (await complain(second, two[1], {"reason": "again"}))["ret"] == 0  # still two people
        assert await link_status(creator, link_id) == "active"
        status, answer = await push(session, deployment, key, content="still taken")
        assert (status, answer["ret"]) == (200, 0), answer  # and the gateway has the key cached now

        # The third different receiver closes the link: its creator sees it closed, pushes are refused
        # as a closed link's are (at once: the cache is told), and the other link is untouched.
        assert (await complain(third, one[2], {"reason": "scam"}))["ret"] == 0
        assert await link_status(creator, link_id) == "closed"
        assert await link_status(creator, other_id) == "active"

        async def refused_as_closed() -> bool:
            status, answer = await push(session, deployment, key, content="after the complaints")
            return (status, answer["ret"]) == (403, 204)

        await eventually(refused_as_closed, timeout=ANNOUNCED_WITHIN_SECONDS, what="the closed link refused")
        _, answer = await push(session, deployment, key, content="once more")
        assert answer["errMsg"] == "group link is closed"
        status, answer = await push(session, deployment, other_key, content="the other link")
        assert (status, answer["ret"]) == (200, 0), answer

        # A closed link stays closed for its creator to decide: more complaints change nothing.
        assert (await complain(third, two[2]))["ret"] == 0
        store = deployment.open_store()
        try:
            link = await group_links.get_by_link_id(store, link_id)
        finally:
            await store.close()
        assert link is not None and link.status == "closed"
