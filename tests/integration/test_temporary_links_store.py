"""Temporary links' rules on each store adapter: states, ownership, the per-user limit under races, counts.

The HTTP flows in both run modes are in `test_temporary_links.py`; here the rules run directly on SQLite
and on the MongoDB-compatible server, with a bus that records what is announced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import cast

import pytest

from services.auth.temporary_links import LinkPolicy, TemporaryLinks, valid_name
from shared.bus import Bus
from shared.data import keys, messages
from shared.envelope import ApiError, Ret
from shared.ids import new_id, new_push_key, now_ms
from shared.messages.base import BusMessage
from shared.messages.keys import KeysChangedV1
from shared.messages.push import MessageBody
from shared.store import Store
from shared.timefmt import iso_ms

OWNER = "a" * 24
STRANGER = "b" * 24
DAY_MS = 24 * 3600 * 1000


class RecordingBus:
    """Keeps what is published; the rules only publish."""

    def __init__(self) -> None:
        self.published: list[BusMessage] = []

    async def publish(self, message: BusMessage, *, headers: Mapping[str, str] | None = None) -> None:
        self.published.append(message)

    def announced(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(m.user_id, m.keys) for m in self.published if isinstance(m, KeysChangedV1)]


def rules(store: Store, bus: RecordingBus, *, per_user: int = 20) -> TemporaryLinks:
    policy = LinkPolicy(public_url="http://push.example", ttl_days=90, per_user=per_user)
    return TemporaryLinks(store, cast(Bus, bus), policy)


async def refusal(action: Awaitable[object]) -> tuple[int, str]:
    """The `ret` and reason an awaited rule refused with."""
    with pytest.raises(ApiError) as refused:
        await action
    return int(refused.value.ret), refused.value.reason


async def expire(store: Store, key: str) -> None:
    await store.collection(keys.COLLECTION).update_one({"_id": key}, {"$set": {"expiresAt": now_ms() - 1}})


async def test_states_follow_the_rules_and_every_change_is_announced(store: Store) -> None:
    bus = RecordingBus()
    links = rules(store, bus)
    before = now_ms()
    created = await links.create(OWNER, "  build bot ")
    assert before + 90 * DAY_MS <= created.expires_at <= now_ms() + 90 * DAY_MS
    stored = await keys.get_by_value(store, created.key)
    assert stored is not None and stored.link_id is not None
    assert (stored.kind, stored.status, stored.name, stored.user_id) == (
        "temporary",
        "active",
        "build bot",
        OWNER,
    )
    assert stored.link_id != created.key and bus.announced() == []  # a new key is cached by nobody yet

    await links.pause(OWNER, created.key)
    assert await refusal(links.pause(OWNER, created.key)) == (Ret.WRONG_STATE, "the link is not active")
    await links.resume(OWNER, created.key)
    assert await refusal(links.resume(OWNER, created.key)) == (Ret.WRONG_STATE, "the link is not paused")
    await links.rename(OWNER, created.key, "deploy bot")
    await links.delete(OWNER, created.key)

    gone = await keys.get_by_value(store, created.key)
    assert gone is not None and (gone.status, gone.name) == ("deleted", "deploy bot")
    assert bus.announced() == [(OWNER, (created.key,))] * 4
    for action in (links.pause, links.resume, links.delete, links.qr_code):
        assert (await refusal(action(OWNER, created.key)))[0] == Ret.NOT_FOUND
    assert (await refusal(links.rename(OWNER, created.key, "again")))[0] == Ret.NOT_FOUND
    assert await links.page(OWNER, skip=0, limit=20) == ([], 0)


async def test_an_expired_link_can_only_be_deleted(store: Store) -> None:
    bus = RecordingBus()
    links = rules(store, bus)
    created = await links.create(OWNER, "old")
    await links.pause(OWNER, created.key)
    await expire(store, created.key)
    expired = (Ret.WRONG_STATE, "the link has expired: it can only be deleted")
    assert await refusal(links.pause(OWNER, created.key)) == expired
    assert await refusal(links.resume(OWNER, created.key)) == expired
    assert await refusal(links.rename(OWNER, created.key, "new")) == expired
    (shown,), count = await links.page(OWNER, skip=0, limit=20)
    assert (shown["status"], shown["name"], count) == ("expired", "old", 1)
    await links.delete(OWNER, created.key)
    assert await links.page(OWNER, skip=0, limit=20) == ([], 0)


async def test_a_link_is_its_owners_alone_and_others_hear_no_link_at_all(store: Store) -> None:
    bus = RecordingBus()
    links = rules(store, bus)
    created = await links.create(OWNER, "mine")
    fixed = new_push_key()
    await keys.insert(store, value=fixed, user_id=STRANGER, kind="fixed", created_at=now_ms())
    no_link = (Ret.NOT_FOUND, "no such temporary link")
    for user, key in (
        (STRANGER, created.key),  # someone else's
        (STRANGER, new_push_key()),  # nobody's
        (STRANGER, fixed),  # a fixed key is no temporary link, even for its owner
        (STRANGER, "not-a-key"),
    ):
        for action in (links.pause, links.resume, links.delete, links.qr_code):
            assert await refusal(action(user, key)) == no_link
        assert await refusal(links.rename(user, key, "theirs")) == no_link
    still = await keys.get_by_value(store, created.key)
    assert still is not None and (still.status, still.name) == ("active", "mine")
    assert bus.announced() == []


async def test_the_limit_holds_when_creations_race(store: Store) -> None:
    bus = RecordingBus()
    links = rules(store, bus, per_user=3)
    await links.create(OWNER, "first")
    outcomes = await asyncio.gather(
        *(links.create(OWNER, f"racer {n}") for n in range(8)), return_exceptions=True
    )
    kept = [outcome.key for outcome in outcomes if not isinstance(outcome, BaseException)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert all(isinstance(error, ApiError) and error.ret == Ret.WRONG_STATE for error in refused)
    live = await keys.count_live_temporary(store, OWNER, now=now_ms())
    # Never over the limit, and a refused creation leaves nothing behind.
    assert live == 1 + len(kept) <= 3
    assert await store.collection(keys.COLLECTION).count({"userId": OWNER}) == live
    # Expired and deleted links leave room; another user's links are theirs.
    for key in kept:
        await expire(store, key)
    await links.create(OWNER, "after expiry")
    assert await keys.count_live_temporary(store, OWNER, now=now_ms()) == 2
    for n in range(3):
        await links.create(STRANGER, f"theirs {n}")
    assert (await refusal(links.create(STRANGER, "one more")))[0] == Ret.WRONG_STATE
    assert await keys.count_live_temporary(store, STRANGER, now=now_ms()) == 3


async def push_through(store: Store, key: str, *, created_at: int) -> None:
    """A message as the gateway stores one that came through the temporary key `key`."""
    found = await keys.get_by_value(store, key)
    assert found is not None
    message = messages.new_message(
        message_id=new_id(),
        sender_id=found.user_id,
        key_kind=found.kind,
        body=MessageBody(content="hi"),
        created_at=created_at,
        source=found.name,
        link_id=found.link_id,
    )
    await messages.insert(store, message)


async def test_the_list_counts_messages_and_finds_the_latest_by_link(store: Store) -> None:
    bus = RecordingBus()
    links = rules(store, bus)
    quiet, busy = await links.create(OWNER, "quiet"), await links.create(OWNER, "busy")
    await store.collection(keys.COLLECTION).update_one({"_id": busy.key}, {"$inc": {"createdAt": 5}})
    now = now_ms()
    for at in (now - 3000, now - 1000, now - 2000):
        await push_through(store, busy.key, created_at=at)
    shown, count = await links.page(OWNER, skip=0, limit=20)
    assert count == 2
    assert [(link["key"], link["messages"], link["lastUsed"]) for link in shown] == [
        (busy.key, 3, iso_ms(now - 1000)),
        (quiet.key, 0, None),
    ]
    assert (await links.page(OWNER, skip=1, limit=1))[0][0]["key"] == quiet.key
    # The messages name their link by its id, never by the key itself.
    for stored in await store.collection(messages.COLLECTION).find({}):
        assert busy.key not in repr(stored) and stored["source"] == "busy"


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("build bot", "build bot"),
        ("  padded\t", "padded"),
        ("x" * 32, "x" * 32),
        (" " + "漢" * 32 + " ", "漢" * 32),
        ("x" * 33, None),
        ("", None),
        ("   ", None),
        ("two\nlines", None),
        ("tab\tinside", None),
        ("line\u2028separator", None),
        ("nul\x00", None),
        (5, None),
        (None, None),
        (["x"], None),
    ],
)
def test_names_are_one_trimmed_line_of_1_to_32_characters(raw: object, kept: str | None) -> None:
    if kept is not None:
        assert valid_name(raw) == kept
        return
    with pytest.raises(ApiError) as refused:
        valid_name(raw)
    assert refused.value.ret == Ret.INVALID
