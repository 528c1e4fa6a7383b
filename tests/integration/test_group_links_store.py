"""Group links on each store adapter: the per-user limit, and what fanout relies on: a link's
subscribers streamed in `_id` order, page by page, filtered by topic in the store."""

from __future__ import annotations

from typing import cast

import pytest

from services.auth.group_links import GroupLinkPolicy, GroupLinks
from services.auth.subscriptions import Subscriptions
from shared.bus import Bus
from shared.data import group_links, subscriptions
from shared.envelope import ApiError, Ret
from shared.ids import now_ms
from shared.store import Store
from tests.integration.test_temporary_links_store import RecordingBus

OWNER = "a" * 24


def creator(store: Store, bus: RecordingBus, *, per_user: int = 20) -> GroupLinks:
    return GroupLinks(
        store, cast(Bus, bus), GroupLinkPolicy(public_url="http://push.example", per_user=per_user)
    )


async def test_a_user_has_at_most_the_limit_of_links_and_changes_are_announced(store: Store) -> None:
    bus = RecordingBus()
    links = creator(store, bus, per_user=2)
    first, _ = await links.create(OWNER, "one", True)
    await links.create(OWNER, "two", "0")
    with pytest.raises(ApiError) as refused:
        await links.create(OWNER, "three", None)
    assert refused.value.ret == Ret.WRONG_STATE
    assert await group_links.count_live_of_user(store, OWNER) == 2
    await links.delete(OWNER, first)
    await links.create(OWNER, "three", False)
    assert bus.announced() == [(OWNER, (first,))]


async def test_fanout_streams_a_links_subscribers_in_pages_filtered_by_topic(store: Store) -> None:
    links = creator(store, RecordingBus())
    _, link_id = await links.create(OWNER, "news", True)
    _, other_id = await links.create(OWNER, "other", True)
    subs = Subscriptions(store)
    users = [f"{i:024x}" for i in range(1, 8)]
    choices = [[], ["sport"], ["sport", "tech"], ["tech"], [], ["weather"], []]
    for user, topics in zip(users, choices, strict=True):
        await subs.subscribe(user, link_id, user != users[4], topics)
    await subs.subscribe(users[0], other_id, True, [])

    async def streamed(topic: str | None) -> list[list[str]]:
        pages = subscriptions.stream_for_link(store, link_id, topic=topic, batch_size=2)
        return [[sub.user_id for sub in page] async for page in pages]

    def everyone_in(pages: list[list[str]]) -> list[str]:
        return sorted(user for page in pages for user in page)

    everyone = [users[0], users[4], users[6]]
    assert sorted(len(page) for page in await streamed(None)) == [1, 2]
    assert everyone_in(await streamed(None)) == everyone
    assert everyone_in(await streamed("sport")) == sorted([*everyone, users[1], users[2]])
    assert all(len(page) <= 2 for page in await streamed("sport"))
    assert everyone_in(await streamed("tech")) == sorted([*everyone, users[2], users[3]])
    strong = {
        sub.user_id: sub.strong
        for page in [p async for p in subscriptions.stream_for_link(store, link_id, topic="weather")]
        for sub in page
    }
    assert strong == {users[0]: True, users[4]: False, users[5]: True, users[6]: True}

    # Topics are created once, whoever comes first.
    assert await group_links.ensure_topic(store, link_id, "sport", now=now_ms())
    assert not await group_links.ensure_topic(store, link_id, "sport", now=now_ms())
    assert [t.name for t in await group_links.list_topics(store, link_id, limit=10)] == ["sport"]
