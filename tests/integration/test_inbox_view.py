"""The client API's view of the inbox on both stores: entries joined with their messages, attempts merged."""

from __future__ import annotations

from services.gateway.inbox_view import detail_for_user, page_for_user
from shared.data import deliveries, inbox, messages
from shared.messages.push import MessageBody
from shared.store import Store
from shared.timefmt import iso_ms

USER = "a" * 24
T0 = 1_700_000_000_000


async def deliver(
    store: Store, message_id: str, *, at: int, status: str = "delivered", **fields: str
) -> None:
    """A message and its recipient's entry, as the gateway and the dispatcher write them."""
    await messages.insert(
        store,
        messages.new_message(
            message_id=message_id,
            sender_id=USER,
            key_kind="fixed",
            body=MessageBody(title=f"title {message_id}", content=f"content {message_id}"),
            created_at=at,
            **fields,
        ),
    )
    entry = inbox.new_entry(
        entry_id=message_id,
        user_id=USER,
        message_id=message_id,
        created_at=at,
        stored_at=at + 5,
        status=status,
    )
    await inbox.insert_if_absent(store, entry)


async def test_a_page_joins_its_messages_and_skips_an_entry_without_one(store: Store) -> None:
    await deliver(store, "m1", at=T0)
    await deliver(store, "m2", at=T0 + 1, source="build bot", topic="ci", extra='{"detail":{"a":1}}')
    orphan = inbox.new_entry(
        entry_id="m3",
        user_id=USER,
        message_id="gone",
        created_at=T0 + 2,
        stored_at=T0 + 2,
        status="delivered",
    )
    await inbox.insert_if_absent(store, orphan)

    shown, count = await page_for_user(store, USER, skip=0, limit=20)
    assert count == 3
    assert shown == [
        {
            "id": "m2",
            "body": {
                "title": "title m2",
                "content": "content m2",
                "url": "",
                "automaticallyCopy": 1,
                "copyText": "",
            },
            "mode": "inbox",
            "read": False,
            "app": "iGot",
            "source": "build bot",
            "topic": "ci",
            "extra": {"detail": {"a": 1}},
            "createTime": iso_ms(T0 + 1),
        },
        {
            "id": "m1",
            "body": {
                "title": "title m1",
                "content": "content m1",
                "url": "",
                "automaticallyCopy": 1,
                "copyText": "",
            },
            "mode": "inbox",
            "read": False,
            "app": "iGot",
            "createTime": iso_ms(T0),
        },
    ]
    assert await page_for_user(store, "b" * 24, skip=0, limit=20) == ([], 0)


async def test_detail_merges_the_inbox_attempt_with_every_way_oldest_first_and_marks_read(
    store: Store,
) -> None:
    await deliver(store, "m1", at=T0, status="failed")
    for way, attempts in (
        ("webhook", [{"at": T0 + 30, "result": "failed", "error": "HTTP 500", "latencyMs": 12}]),
        (
            "bark",
            [
                {"at": T0 + 10, "result": "retrying", "error": "timeout"},
                {"at": T0 + 40, "result": "failed", "error": "HTTP 400"},
            ],
        ),
    ):
        await store.collection(deliveries.COLLECTION).insert_one(
            {
                "_id": deliveries.record_id("m1", way),
                "entryId": "m1",
                "messageId": "m1",
                "userId": USER,
                "way": way,
                "status": "failed",
                "tries": len(attempts),
                "attempts": attempts,
                "createdAt": attempts[0]["at"],
                "updatedAt": attempts[-1]["at"],
            }
        )

    shown = await detail_for_user(store, USER, "m1")
    assert shown is not None
    assert shown["read"] is True
    assert shown["delivery"] == {
        "status": "failed",
        "attempts": [
            {"way": "inbox", "at": iso_ms(T0 + 5), "result": "delivered"},
            {"way": "bark", "at": iso_ms(T0 + 10), "result": "retrying", "error": "timeout"},
            {
                "way": "webhook",
                "at": iso_ms(T0 + 30),
                "result": "failed",
                "error": "HTTP 500",
                "latencyMs": 12,
            },
            {"way": "bark", "at": iso_ms(T0 + 40), "result": "failed", "error": "HTTP 400"},
        ],
    }
    entry = await inbox.get_for_user(store, USER, "m1")
    assert entry is not None and entry["read"] is True
    assert await detail_for_user(store, "b" * 24, "m1") is None
